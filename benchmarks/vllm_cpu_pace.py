"""How the counts of benchmarks/vllm_cpu.py's workload depend on the engine's pace, on the simulator.

    .venv/bin/python benchmarks/vllm_cpu_pace.py [--results results/vllm_cpu.jsonl] [--policies fcfs,agentrt] [--paces 0.9,1,1.2]

Why: a real round's counts come from one run at one pace (how fast the engine went under that
round's load), and on a memory-bound workload a few percent of pace decide whether a context
survives a 0.1-0.3 s tool gap in the prefix cache, or whether a call arrives while memory is short
and preempts a running one. The simulator replays the same work at each pace to show which counts
move with it, and where they jump, what happened: each preemption's step (when, its requests, the
KV cache's use after scheduling) and the program that lost its KV.

The simulator is calibrated as `vllm_cpu.py summary` does (the file's steps of its last
workload, stock's too where recorded); a pace scales every step's cost (overheads x pace, efficiencies / pace, capped at 1, so
a pace under 1 can only speed up what the cap leaves room for). Default paces: each run's own
(stock's where it recorded steps), its steps' wall time over the calibrated model's prediction (what that run's load made of the
engine), sorted; each call through the client latency the runs measured (`ClientLatency`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from agentrt.engine_adapters.sim import Profile
from agentrt.engine_adapters.sim.cost_model import CostModel
from agentrt.replay.driver import ReplayResult

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vllm_cpu as bench  # noqa: E402  (a sibling script: its workload, its calibration inputs)


def scaled(profile: Profile, pace: float) -> Profile:
    """`profile` with every step `pace` times as long (within the efficiency cap of 1)."""
    return profile.with_factors(overhead_s=profile.overhead_s * pace,
                                overhead_per_prefill_s=profile.overhead_per_prefill_s * pace,
                                memory_efficiency=min(profile.memory_efficiency / pace, 1.0),
                                compute_efficiency=min(profile.compute_efficiency / pace, 1.0))


def paces_of(runs: list[bench.Run], profile: Profile) -> list[float]:
    """Each run's pace (runs that recorded steps): its steps' measured wall time over what `profile` predicts for them."""
    cost = CostModel(profile)
    return sorted(sum(s.seconds for s in r.steps) / sum(bench.predicted(cost, s) for s in r.steps)
                  for r in runs if r.steps)


def preemptions(result: ReplayResult) -> str:
    """Each preempting step (t, requests, prefill + decode tokens, waiting, KV used after
    scheduling) and the programs that were preempted."""
    steps = [f"t={i.start:.2f} {i.batch_size} req {i.num_prefill_tokens}+{i.num_decode_tokens} tok, {i.num_waiting} "
             f"waiting, KV {i.kv_usage:.0%}" for i in result.engine_stats.iterations if i.num_preemptions]
    victims = [f"{m.trace_id} ({m.recomputed_tokens} recomputed)" for m in result.metrics if m.preemptions]
    return "; ".join(steps) + (" -> " + ", ".join(victims) if victims else "") or "-"


def table(w: dict[str, object], profile: Profile, policies: list[str], paces: list[float], work: bench.Work,
          latency: tuple[float, float] = (0.0, 0.0)) -> str:
    rows = ["| policy | pace | mean JCT (s) | " + " | ".join(bench.COUNTS) + " | preemptions: step -> program |",
            "|---|---:|---:|" + "---:|" * len(bench.COUNTS) + "---|"]
    for policy in policies:
        for pace in paces:
            result = bench.sim_run(w, scaled(profile, pace), policy, work, latency)
            counts = bench.counts_of(result)
            rows.append(f"| {policy} | {pace:.3f} | {result.summary.mean_jct:.2f} | "
                        + " | ".join(f"{counts[c]:,}" for c in bench.COUNTS) + f" | {preemptions(result)} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results/vllm_cpu.jsonl"))
    parser.add_argument("--policies", default="fcfs,continuum,agentrt", help="comma-separated policy names")
    parser.add_argument("--paces", default="", help="comma-separated paces (default: each plugin run's own)")
    args = parser.parse_args()
    every = bench.read_runs(args.results)
    if not every:
        sys.exit(f"error: {args.results} holds no runs; run `vllm_cpu.py run` first")
    last, runs = bench.last_workload(every)
    profile = bench.calibrated_profile(runs, args.results)
    own = paces_of(runs, profile)
    paces = [float(p) for p in args.paces.split(",") if p] or own
    print(f"{len(runs)} runs of {args.results}'s last workload; the runs' paces: median "
          f"{statistics.median(own):.3f}, range {own[0]:.3f}-{own[-1]:.3f}\n")
    latency = bench.client_latency(runs)
    print(f"the client's latency per call as summary uses it: {latency[0] * 1e3:.1f} ms in, {latency[1] * 1e3:.1f} ms out\n")
    print(table(last.workload, profile, [p for p in args.policies.split(",") if p], paces, bench.workload(last.workload),
                latency))


if __name__ == "__main__":
    main()
