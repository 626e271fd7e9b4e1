"""What a prefill that continues a cached prefix costs on vLLM's CPU engine, against the same new
tokens computed fresh, on the engine's own step clock.

    .venv/bin/python benchmarks/vllm_cpu_prefix.py [--model DIR] [--cached 0,256,512,768]
        [--new 64,128,256] [--repeats 2] [--results FILE]

One engine (agentrt's plugin, fcfs, one OpenMP thread as VLLMEngine's default here) on the bench
model. For each cached prefix k and new-token count n: a request of k tokens fills the prefix
cache, then one of those k tokens plus n new ones runs alone with max_tokens=1, so its one step
computes exactly the n new tokens after k cached ones (the step record says so: n prefill tokens,
k + n context). Each step is one prefill of n tokens; the cells differ only in k.

Why vLLM 0.32's CPU backend could price them differently (v1/attention/backends/cpu_attn.py):
there is one attention path, `cpu_attention_with_kv_cache`, for fresh and continuing prefills and
for decodes alike (the SDPA prefill path is gone: `use_sdpa_prefill` is a leftover field); each
layer first writes the new tokens' K/V into the paged cache, then every query token attends to
its request's whole KV through the block table. So a continuing prefill differs from a fresh one
only in how many key-value pairs it reads: n x k + n (n + 1) / 2. The cost model (sim/cost_model.py)
prices a pair at the FLOPs of a matmul parameter; the fit below says what a pair costs here.

Fit (least squares over every measured step, CPU and wall time each): seconds = fixed + per_token x
n + per_pair x pairs; printed with the cost model's ratio of a pair's price to a
token's, so the two say how much the model underprices a pair. Appends one JSON line to `--results`
(with VLLM_CPU_ATTN_SPLIT_KV, vLLM's one setting of this kernel's work split, as the environment
gave it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import anyio
import numpy as np

from agentrt.engine_adapters.base import GenerationRequest
from agentrt.engine_adapters.sim.cost_model import chunk_pairs
from agentrt.engine_adapters.vllm import StepRecord, VLLMEngine
from agentrt.engine_adapters.sim.profiles import ModelSpec
from agentrt.engine_adapters.vllm.tiny_model import MAX_POSITIONS, SHAPES, VOCAB_SIZE, LlamaShape, write_model
from agentrt.programs.tokens import Tokens


def request(prompt: Tokens, key: str) -> GenerationRequest:
    return GenerationRequest(call_id=key, program_id=key, prompt=prompt, max_tokens=1, arrival=0.0, ignore_eos=True)


async def measure(model: str, cached: list[int], new: list[int], repeats: int) -> tuple[int, list[dict[str, Any]]]:
    """The engine core's torch threads, and one row per (repeat, k, n): the measured prefill
    step's counts and times."""
    engine = VLLMEngine(model, dtype="float32", num_gpu_blocks_override=128, block_size=32, max_model_len=2048,
                        max_num_seqs=8, max_num_batched_tokens=2048, record_steps=100_000)
    rows: list[dict[str, Any]] = []
    async with anyio.create_task_group() as tg:
        await engine.start("fcfs", tg)
        for i, n in enumerate((64, 256, 512, 1024)):  # warm-up: the CPU kernels are built for each new shape
            await engine.generate(request(Tokens.synthetic(n, f"warm{i}"), f"warm{i}"))
            await engine.generate(request(Tokens.synthetic(n, f"warm{i}") + Tokens.synthetic(64, f"w{i}"), f"w{i}"))
        await engine.take_steps()
        for rep in range(repeats):
            for k in cached:
                for n in new:
                    key = f"r{rep}k{k}n{n}"
                    prefix = Tokens.synthetic(k, f"p{key}")
                    if k:
                        await engine.generate(request(prefix, f"p{key}"))
                        await engine.take_steps()
                    await engine.generate(request(prefix + Tokens.synthetic(n, f"q{key}"), key))
                    steps = [s for s in await engine.take_steps() if s.num_prefill_tokens > 0]
                    rows.append(_row(rep, k, n, steps))
        threads = (await engine.query_statistics()).num_threads
        await engine.stop()
        tg.cancel_scope.cancel()
    return threads, rows


def _row(rep: int, k: int, n: int, steps: list[StepRecord]) -> dict[str, Any]:
    if (len(steps) != 1 or steps[0].num_prefill_tokens != n or steps[0].num_context_tokens != k + n
            or steps[0].num_attention_pairs != chunk_pairs(k, n)):
        raise SystemExit(f"error: expected one prefill step of {n} tokens after {k} cached, got {steps}: "
                         "the prefix cache did not hold the prefix (is the cache large enough?)")
    s = steps[0]
    return {"repeat": rep, "cached": k, "new": n, "pairs": s.num_attention_pairs, "seconds": s.seconds,
            "cpu_seconds": s.cpu_seconds}


def fit(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    """Least squares seconds = fixed + per_token x new + per_pair x pairs."""
    a = np.array([[1.0, r["new"], r["pairs"]] for r in rows])
    (fixed, per_token, per_pair), *_ = np.linalg.lstsq(a, np.array([r[key] for r in rows]), rcond=None)
    return {"fixed_s": float(fixed), "per_token_s": float(per_token), "per_pair_s": float(per_pair),
            "pair_in_tokens": float(per_pair / per_token)}


def model_pair_in_tokens(shape: LlamaShape) -> float:
    """The cost model's price of one attention pair in tokens of matmul (compute-bound steps):
    4 x layers x heads x head_dim FLOPs a pair against 2 x matmul parameters a token."""
    spec = ModelSpec(name="bench", num_layers=shape.num_layers, hidden_size=shape.hidden_size,
                     intermediate_size=shape.intermediate_size, num_heads=shape.num_heads,
                     num_kv_heads=shape.num_heads, vocab_size=VOCAB_SIZE, max_model_len=MAX_POSITIONS, dtype_bytes=4)
    return 4 * spec.num_layers * spec.num_heads * spec.head_dim / (2 * spec.num_matmul_params)


def cells(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Per (k, n): the median step time and its ratio to the same n with nothing cached."""
    med: dict[tuple[int, int], float] = {}
    for k, n in sorted({(r["cached"], r["new"]) for r in rows}):
        med[k, n] = statistics.median(r[key] for r in rows if (r["cached"], r["new"]) == (k, n))
    return [{"cached": k, "new": n, "ms": v * 1e3, "over_fresh": v / med[0, n] if (0, n) in med else float("nan")}
            for (k, n), v in med.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder (default: `agentrt model bench` in a temp dir)")
    parser.add_argument("--cached", type=lambda s: [int(x) for x in s.split(",")], default=[0, 256, 512, 768])
    parser.add_argument("--new", type=lambda s: [int(x) for x in s.split(",")], default=[64, 128, 256])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--results", type=Path, default=Path("results/vllm_cpu_prefix.jsonl"),
                        help="append the run here (docs/vllm_cpu_prefix_runs.jsonl: the runs in docs/vllm.md)")
    args = parser.parse_args()
    if any(k % 32 for k in args.cached):
        raise SystemExit(f"error: --cached values must be multiples of the block size 32 (got {args.cached})")
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(write_model(Path(tmp) / "bench-llama", SHAPES["bench"]))
        threads, rows = anyio.run(measure, model, args.cached, args.new, args.repeats)
    line = {"load": [load, os.getloadavg()[0]], "engine_threads": threads,
            "split_kv": os.environ.get("VLLM_CPU_ATTN_SPLIT_KV", "1 (default)"),
            "model_pair_in_tokens": model_pair_in_tokens(SHAPES["bench"]),
            "fit_cpu": fit(rows, "cpu_seconds"), "fit_wall": fit(rows, "seconds"),
            "cells_cpu": cells(rows, "cpu_seconds"), "rows": rows}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with args.results.open("a") as f:
        f.write(json.dumps(line) + "\n")
    print(json.dumps({k: v for k, v in line.items() if k != "rows"}, indent=1))


if __name__ == "__main__":
    main()
