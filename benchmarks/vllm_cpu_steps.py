"""Where a step's time goes in vLLM's CPU engine, under one thread setting: a profile of the
engine-core process for the settings that may cut the fixed per-step cost and its noise.

    .venv/bin/python benchmarks/vllm_cpu_steps.py [--model DIR] [--omp-threads N] [--engine-cpus 1]
        [--driver-cpus 0] [--results FILE]

One engine (agentrt's plugin, fcfs) on the bench model, then: one request decoding `--decode`
tokens alone (one-request decode steps: the fixed cost of a step), and single prefills of
`--prefills` tokens, each a fresh prompt (the cost per prefill token). From the plugin's step
clock, per step: wall time, the engine process's CPU time, the scheduling thread's CPU time (the
scheduler and the model: the worker lives in that thread on CPU) and `schedule()`'s own. Over the
decode phase, each engine-core thread's CPU seconds by name (/proc), which says whether the other
threads (output serialization, idle OpenMP threads spinning) take the CPU the step is charged.

Settings: `--omp-threads` sets OMP_NUM_THREADS before vLLM starts its engine-core process (torch's
default: one per CPU); `--driver-cpus` pins this driver process (sched_setaffinity, as taskset)
before the engine starts, so the engine core inherits it; `--engine-cpus` then pins every thread
of the started engine core. VLLM_CPU_OMP_THREADS_BIND, if set in the environment, is recorded: it
has no effect here (it binds the workers of vLLM's multiprocess executor; on CPU the worker runs in
the engine-core process). Appends one JSON line to `--results`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import psutil

from agentrt.engine_adapters.base import GenerationRequest
from agentrt.engine_adapters.vllm import StepRecord, VLLMEngine
from agentrt.engine_adapters.vllm.tiny_model import SHAPES, write_model
from agentrt.programs.tokens import Tokens

TYPICAL_PROMPT = 365  # benchmarks/vllm_cpu.py's workload: the median prompt in tokens (177 before its contexts grew to 1024)


def cpu_list(text: str | None) -> set[int] | None:
    if text is None:
        return None
    cpus: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def thread_times(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of `pid`, by thread id (the engine core's
    threads all carry the process's name)."""
    out: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def omp_environment(pid: int) -> dict[str, str]:
    """The engine core's OpenMP settings as vLLM left them in its environment."""
    pairs = (item.partition("=") for item in Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0"))
    return {k: v for k, _, v in pairs if k.startswith(("OMP_", "GOMP_", "KMP_"))}


def engine_core(parent: psutil.Process) -> psutil.Process:
    """The child process that runs the model: the one with the most CPU time."""
    children = parent.children(recursive=True)
    return max(children, key=lambda c: sum(c.cpu_times()[:2]))


def request(n: int, max_tokens: int, key: str) -> GenerationRequest:
    return GenerationRequest(call_id=key, program_id=key, prompt=Tokens.synthetic(n, key), max_tokens=max_tokens,
                             arrival=0.0, ignore_eos=True)


async def profile(model: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = VLLMEngine(model, dtype="float32", num_gpu_blocks_override=64, block_size=32, max_model_len=512,
                        max_num_seqs=8, max_num_batched_tokens=2048, record_steps=100_000)
    async with anyio.create_task_group() as tg:
        await engine.start("fcfs", tg)
        core = engine_core(psutil.Process())
        engine_cpus = cpu_list(args.engine_cpus)
        if engine_cpus is not None:
            for tid in os.listdir(f"/proc/{core.pid}/task"):
                os.sched_setaffinity(int(tid), engine_cpus)
        for i in range(3):  # warm-up: the CPU kernels are built for each new shape
            await engine.generate(request(64 * (i + 1), 8, f"warm{i}"))
        env = omp_environment(core.pid)
        before, start = thread_times(core.pid), time.perf_counter()
        await engine.generate(request(16, args.decode, "decode"))
        decode_wall = time.perf_counter() - start
        after = thread_times(core.pid)
        for i, n in enumerate(args.prefills):
            await engine.generate(request(n, 1, f"prefill{i}"))
        await engine.stop()
        tg.cancel_scope.cancel()
    used = sorted((after[t] - before.get(t, 0.0) for t in after), reverse=True)
    return {"threads": [round(x, 2) for x in used if x > 0], "omp_env": env,
            "decode_wall_s": decode_wall, "steps": [_fields(s) for s in engine.measured_steps]}


def _fields(step: StepRecord) -> list[float]:
    return [step.num_prefill_tokens, step.num_decode_tokens, step.seconds, step.cpu_seconds,
            step.thread_cpu_seconds, step.schedule_cpu_seconds]


def summarize(steps: list[list[float]], num_decode: int, num_prefill: int) -> dict[str, float]:
    """Medians over the decode phase's one-request decode steps, the fastest of them, and the
    least-squares cost per prefill token over the prefill phase's steps (the warm-up's left out)."""
    decode = [s for s in steps if s[0] == 0 and s[1] == 1][-(num_decode - 1):]
    prefill = [s for s in steps if s[0] > 0][-num_prefill:]
    med = {name: statistics.median(s[i] for s in decode) for i, name in
           ((2, "wall"), (3, "cpu"), (4, "thread_cpu"), (5, "schedule_cpu"))}
    slope_cpu = float(np.polyfit([s[0] for s in prefill], [s[3] for s in prefill], 1)[0])
    slope_wall = float(np.polyfit([s[0] for s in prefill], [s[2] for s in prefill], 1)[0])
    return {"decode_steps": len(decode), **{f"decode_{k}_ms": v * 1e3 for k, v in med.items()},
            "decode_cpu_fastest_ms": min(s[3] for s in decode) * 1e3,
            "decode_wall_p90_ms": float(np.percentile([s[2] for s in decode], 90)) * 1e3,
            "prefill_cpu_us_per_token": slope_cpu * 1e6, "prefill_wall_us_per_token": slope_wall * 1e6,
            "ratio_cpu": slope_cpu * TYPICAL_PROMPT / med["cpu"], "ratio_wall": slope_wall * TYPICAL_PROMPT / med["wall"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder (default: `agentrt model bench` in a temp dir)")
    parser.add_argument("--omp-threads", default=None, help="OMP_NUM_THREADS for the engine")
    parser.add_argument("--engine-cpus", default=None, help="pin the engine-core process to these CPUs, e.g. 1")
    parser.add_argument("--driver-cpus", default=None, help="pin this driver process to these CPUs, e.g. 0")
    parser.add_argument("--decode", type=int, default=120, help="tokens the one-request decode phase generates")
    parser.add_argument("--prefills", type=lambda s: [int(x) for x in s.split(",")], default=[64, 128, 256, 448] * 2)
    parser.add_argument("--results", type=Path, default=Path("results/vllm_cpu_steps.jsonl"),
                        help="append the run here (docs/vllm_cpu_steps_runs.jsonl: the runs in docs/vllm.md)")
    args = parser.parse_args()
    if args.omp_threads is not None:
        os.environ["OMP_NUM_THREADS"] = args.omp_threads
    driver_cpus = cpu_list(args.driver_cpus)
    if driver_cpus is not None:
        os.sched_setaffinity(0, driver_cpus)
    settings = {"bind": os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "auto"),
                "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
                "engine_cpus": args.engine_cpus or "all", "driver_cpus": args.driver_cpus or "all"}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(write_model(Path(tmp) / "bench-llama", SHAPES["bench"]))
        out = anyio.run(profile, model, args)
    line = {"settings": settings, "load": [load, os.getloadavg()[0]], "summary": summarize(out["steps"], args.decode, len(args.prefills)),
            **out}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with args.results.open("a") as f:
        f.write(json.dumps(line) + "\n")
    print(json.dumps({k: line[k] for k in ("settings", "load", "summary", "threads", "omp_env", "decode_wall_s")}))


if __name__ == "__main__":
    main()
