"""Real vLLM on the CPU: vLLM's own scheduler against agentrt's plugin, then the simulator
calibrated from the same engine, on a slice of the SWE trace.

    .venv/bin/python benchmarks/vllm_cpu.py [--model DIR] [--programs 12] [--steps 12] [--rate 1.0]
        [--num-gpu-blocks 96] [--max-num-seqs 8] [--output results/vllm_cpu.json]

The slice: the first `--programs` programs of swebench-lite-deepseek-v3, each cut to its first
`--steps` LLM calls (and the tool calls between them, at their recorded durations), token counts
scaled so the longest context fits the tiny model's 1024 tokens, Poisson arrivals. The KV cache
is `--num-gpu-blocks` blocks of 32 tokens, about three full contexts, so programs compete.

Runs, one engine at a time (each loads the model afresh):
  stock      vLLM's default Scheduler (no scheduler_cls): FCFS, prefix caching on, plain requests
  agentrt    our plugin, agentrt policy (ATLAS queues + tool-aware TTL pins)
  continuum  our plugin, continuum policy (FCFS + TTL pins)
Then: `sim.calibrate` on the plugin runs' measured steps (tokens, context read, seconds), and the
simulator, with a Profile of the tiny Llama on this CPU, replays the same slice under the same
policies (stock vLLM against the simulator's fcfs); per-program JCT error sim vs real.
Without --model, the tiny model is written to a temporary folder first.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from agentrt.engine_adapters.sim import GPUSpec, MeasuredStep, ModelSpec, Profile, SimEngine, calibrate, fit_error
from agentrt.engine_adapters.vllm import StepRecord, VLLMEngine, write_tiny_model
from agentrt.replay.driver import ReplayResult, replay
from agentrt.replay.trace import LLMStep, TraceProgram, load_trace
from agentrt.replay.workload import Scaling, make_scaling, poisson_arrivals
from agentrt.runtime.runner import run

TRACE = "swebench-lite-deepseek-v3"
BLOCK_SIZE = 32
MAX_MODEL_LEN = 1024
MAX_NUM_BATCHED_TOKENS = 2048
RUNS = (("stock", "fcfs", True), ("agentrt", "agentrt", False), ("continuum", "continuum", False))

# The tiny Llama of `agentrt model tiny` (config.json), served in float32.
TINY_LLAMA = ModelSpec(name="agentrt-tiny-llama", num_layers=2, hidden_size=128, intermediate_size=256,
                       num_heads=2, num_kv_heads=2, vocab_size=512, max_model_len=2048, dtype_bytes=4)
# A 2-core x86 slice as a "GPU": peaks are generous upper bounds (calibrate fits the efficiencies
# below them): ~20 GB/s of DRAM bandwidth, 2 cores x 2.5 GHz x 32 fp32 FLOP/cycle (AVX-512 FMA).
CPU_2_CORES = GPUSpec(name="cpu-2-cores", memory_bytes=8 << 30, memory_bandwidth=20e9, peak_flops=160e9,
                      link_bandwidth=1e9, host_bandwidth=10e9)


def tiny_cpu_profile(max_num_seqs: int) -> Profile:
    """The uncalibrated base profile: the tiny Llama on this CPU, with the engine's limits."""
    return Profile(name="tiny-llama-cpu", model=TINY_LLAMA, gpu=CPU_2_CORES, num_gpus=1,
                   max_num_batched_tokens=MAX_NUM_BATCHED_TOKENS, max_num_seqs=max_num_seqs, non_kv_bytes_per_gpu=0,
                   memory_efficiency=0.5, compute_efficiency=0.5, overhead_s=5e-3, block_size=BLOCK_SIZE)


def workload(args: argparse.Namespace) -> tuple[list[TraceProgram], Scaling, list[float]]:
    programs = []
    for program in load_trace(TRACE, limit=args.programs):
        steps, num_llm = [], 0
        for step in program.steps:
            num_llm += isinstance(step, LLMStep)
            if num_llm > args.steps:
                break
            steps.append(step)
        programs.append(program.model_copy(update={"steps": steps}))
    scaling = make_scaling(programs, 1.0, MAX_MODEL_LEN - 24)
    return programs, scaling, poisson_arrivals(len(programs), args.rate, args.seed)


def real_run(args: argparse.Namespace, model: str, policy: str, stock: bool,
             work: tuple[list[TraceProgram], Scaling, list[float]]) -> tuple[ReplayResult, list[StepRecord]]:
    programs, scaling, arrivals = work

    async def main() -> ReplayResult:
        engine = VLLMEngine(model, stock=stock, dtype="float32", num_gpu_blocks_override=args.num_gpu_blocks,
                            max_model_len=MAX_MODEL_LEN, max_num_seqs=args.max_num_seqs,
                            max_num_batched_tokens=MAX_NUM_BATCHED_TOKENS, record_steps=200_000)
        result = await replay(programs, engine, policy, arrivals, scaling)
        steps.extend(engine.measured_steps)
        return result

    steps: list[StepRecord] = []
    return run(main, virtual_time=False), steps


def sim_run(args: argparse.Namespace, profile: Profile, policy: str,
            work: tuple[list[TraceProgram], Scaling, list[float]]) -> ReplayResult:
    programs, scaling, arrivals = work

    async def main() -> ReplayResult:
        engine = SimEngine(profile, num_gpu_blocks=args.num_gpu_blocks - 1, block_size=BLOCK_SIZE,
                           max_num_seqs=args.max_num_seqs, max_num_batched_tokens=MAX_NUM_BATCHED_TOKENS,
                           max_model_len=MAX_MODEL_LEN)
        return await replay(programs, engine, policy, arrivals, scaling)

    return run(main, virtual_time=True)


def jct_errors(sim: ReplayResult, real: ReplayResult) -> list[float]:
    real_jct = {m.trace_id: m.jct for m in real.metrics if m.status == "ok"}
    return [abs(m.jct - real_jct[m.trace_id]) / real_jct[m.trace_id]
            for m in sim.metrics if m.status == "ok" and m.trace_id in real_jct]


def calibration_steps(steps: list[StepRecord]) -> list[MeasuredStep]:
    """Drop each engine's first steps (the first prefills build CPU kernels)."""
    return [MeasuredStep(s.num_prefill_tokens, s.num_decode_tokens, s.num_context_tokens, s.seconds,
                         s.num_attention_pairs) for s in steps[5:]]


def real_table(real: dict[str, ReplayResult]) -> str:
    base = real["stock"].summary
    rows = ["| run | mean JCT (s) | p95 JCT (s) | mean vs stock | p95 vs stock | prefix-hit tokens | preemptions "
            "| pins (hits) | failed |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, r in real.items():
        s, st = r.summary, r.engine_stats
        pins = "-" if st.stock else f"{st.num_pins_created} ({st.num_pin_hits})"
        preempt = "-" if st.stock else str(st.num_preemptions)
        rows.append(f"| {label} | {s.mean_jct:.2f} | {s.p95_jct:.2f} | {s.mean_jct / base.mean_jct:.3f} | "
                    f"{s.p95_jct / base.p95_jct:.3f} | {st.num_prefix_hit_tokens} | {preempt} | {pins} | {s.num_failed} |")
    return "\n".join(rows)


def sim_table(pairs: dict[str, tuple[ReplayResult, ReplayResult]]) -> str:
    rows = ["| real run | sim policy | real mean JCT (s) | sim mean JCT (s) | median JCT error | mean JCT error "
            "| max JCT error |", "|---|---|---:|---:|---:|---:|---:|"]
    for label, (real, sim) in pairs.items():
        errors = jct_errors(sim, real)
        rows.append(f"| {label} | {sim.policy} | {real.summary.mean_jct:.2f} | {sim.summary.mean_jct:.2f} | "
                    f"{statistics.median(errors):.1%} | {statistics.mean(errors):.1%} | {max(errors):.1%} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder (default: write the tiny model to a temp dir)")
    parser.add_argument("--programs", type=int, default=12)
    parser.add_argument("--steps", type=int, default=12, help="LLM calls kept per program")
    parser.add_argument("--rate", type=float, default=1.0, help="Poisson arrivals, programs/s")
    parser.add_argument("--num-gpu-blocks", type=int, default=96)
    parser.add_argument("--max-num-seqs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("results/vllm_cpu.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(write_tiny_model(Path(tmp) / "tiny-llama"))
        work = workload(args)
        real: dict[str, ReplayResult] = {}
        steps: list[MeasuredStep] = []
        for label, policy, stock in RUNS:
            start = time.perf_counter()
            real[label], measured = real_run(args, model, policy, stock, work)
            steps += calibration_steps(measured)
            print(f"{label}: mean JCT {real[label].summary.mean_jct:.2f} s ({time.perf_counter() - start:.0f} s wall)")
    base = tiny_cpu_profile(args.max_num_seqs)
    profile = calibrate(steps, base, name="tiny-llama-cpu-calibrated")
    fit = fit_error(profile, steps)
    pairs = {label: (real[label], sim_run(args, profile, policy, work)) for label, policy, _ in RUNS}
    programs, scaling, _ = work
    title = (f"{TRACE}: {len(programs)} programs x first {args.steps} LLM calls, token scale {scaling.scale:.4f}, "
             f"rate {args.rate}/s, seed {args.seed}, KV {args.num_gpu_blocks} x {BLOCK_SIZE} tokens, "
             f"max_num_seqs {args.max_num_seqs}")
    print(f"\n{title}\n\nReal vLLM (vllm-cpu 0.32.0, tiny Llama, float32):\n\n{real_table(real)}")
    print(f"\nCalibrated from {fit.num_steps} steps: overhead {profile.overhead_s * 1e3:.2f} ms, memory efficiency "
          f"{profile.memory_efficiency:.3g}, compute efficiency {profile.compute_efficiency:.3g}; step-time fit: "
          f"mean |error| {fit.mean_abs_rel_error:.1%}, RMSE {fit.rmse_s * 1e3:.2f} ms")
    print(f"\nSimulator vs real vLLM, per-program JCT:\n\n{sim_table(pairs)}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "title": title, "steps": [asdict(s) for s in steps], "profile": {"overhead_s": profile.overhead_s, "memory_efficiency": profile.memory_efficiency,
                                    "compute_efficiency": profile.compute_efficiency, "fit": asdict(fit)},
        "real": {k: {"summary": r.summary.as_dict(), "engine": asdict(r.engine_stats),
                     "jct": {m.trace_id: m.jct for m in r.metrics}} for k, r in real.items()},
        "sim": {k: {"summary": s.summary.as_dict(), "jct": {m.trace_id: m.jct for m in s.metrics},
                    "median_jct_error": statistics.median(jct_errors(s, r)) if jct_errors(s, r) else math.nan}
                for k, (r, s) in pairs.items()},
    }, indent=2, default=str))
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
