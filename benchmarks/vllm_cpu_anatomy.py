"""What a program's JCT is made of on benchmarks/vllm_cpu.py's workload, and how memory-bound a
setting is, on the simulator calibrated as `vllm_cpu.py summary` does.

    .venv/bin/python benchmarks/vllm_cpu_anatomy.py [--results results/vllm_cpu.jsonl] [--policies fcfs]
        [--programs 8,12] [--rates 2] [--blocks 48] [--steps 5]

Why: agentrt computes ~0.55x stock's prompt tokens on the default workload yet its mean JCT is not
lower on a fast engine (docs/vllm.md, "Session 5"). Tokens saved become time saved only where the
engine is busy (a saved prefill shortens the steps others wait for) and where contexts are lost at
all (more live contexts than the KV cache holds). Per setting and policy this prints:

- `overflow`: the fraction of the makespan during which the live programs' contexts (each
  program's latest LLM call's prompt + output, held from that call's arrival to the next one's or
  the program's end, in blocks) need more blocks than the cache has: the issue's "more programs
  than the KV cache holds".
- `busy`: the engine's busy time over the makespan; `idle_waiting`: the share of the makespan the
  engine sat idle after a step that left calls waiting (admission held them: agentrt's residency
  gate, pins; a call whose KV does not fit); `prefill_steps`: the share of the busy time in steps
  that prefilled (they carry the running calls' decode tokens too), the rest decode-only steps.
- `gap`, `reprefill`: the median tool gap between two LLM calls of a program (recorded seconds)
  and the median time to prefill, alone on the engine, the context a program holds across it
  (calibrated cost model). Keeping a context through a gap (gating, pinning) trades KV room for
  `gap` seconds against `reprefill` seconds of engine time: it pays where reprefill is not small
  against gap.
- the mean JCT split into tool time, LLM queue wait (before first scheduled and after preemption),
  LLM time in the engine's batches (`service_time`: the steps that scheduled the call, prefill and
  decode alike, each step counted whole), and the rest (client latency, the driver).

The calibration comes from the runs in `--results` (the bench model's steps; the profile
is the model's, whatever workload those runs replayed), with their measured client latency.
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from agentrt.engine_adapters.sim.cost_model import CostModel
from agentrt.programs.records import CallKind, ProgramRecord
from agentrt.replay.driver import ReplayResult
from agentrt.replay.trace import ToolStep, TraceProgram
from agentrt.replay.workload import Scaling

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vllm_cpu as bench  # noqa: E402  (a sibling script: its workload, its calibration inputs)


COLUMNS = ("programs", "rate", "blocks", "steps", "policy", "gap", "reprefill", "overflow", "busy", "idle_waiting",
           "prefill_steps", "makespan", "mean JCT", "tool", "queue", "engine", "other", "computed")


@dataclass(frozen=True, slots=True)
class Anatomy:
    """One simulated run's pressure and its mean JCT's parts (seconds)."""

    overflow: float
    busy: float
    idle_waiting: float
    prefill_steps: float
    makespan: float
    mean_jct: float
    tool: float
    queue: float
    engine: float
    computed: int

    @property
    def other(self) -> float:
        return self.mean_jct - self.tool - self.queue - self.engine


def context_spans(rec: ProgramRecord, block_size: int) -> list[tuple[float, float, int]]:
    """(from, to, blocks) of the program's context: each LLM call's prompt + output, from its
    arrival to the next LLM call's arrival (or the program's finish)."""
    llm = sorted(rec.llm_calls(), key=lambda c: c.arrival)
    end = rec.finish if rec.finish is not None else max((c.finish or c.arrival) for c in llm)
    spans = []
    for call, after in itertools.zip_longest(llm, llm[1:]):
        tokens = call.prefill_tokens - call.recomputed_tokens + call.cached_tokens + call.decode_tokens
        spans.append((call.arrival, after.arrival if after else end, math.ceil(tokens / block_size)))
    return spans


def gap_and_reprefill(programs: list[TraceProgram], scaling: Scaling, cost: CostModel) -> tuple[float, float]:
    """The median tool gap between two LLM calls of a program (seconds, recorded) and the median
    time to prefill alone the context held across it (the earlier call's prompt + output)."""
    gaps, reprefills = [], []
    for program in programs:
        held, gap = None, 0.0
        for step in program.steps:
            if isinstance(step, ToolStep):
                gap += step.duration_s or 0.0
                continue
            if held is not None:
                gaps.append(gap)
                reprefills.append(cost.prefill_time(held))
            held, gap = scaling.tokens(step.input_tokens + step.output_tokens), 0.0
    return (statistics.median(gaps), statistics.median(reprefills)) if gaps else (0.0, 0.0)


def overflow_fraction(records: list[ProgramRecord], num_blocks: int, block_size: int) -> float:
    """The fraction of [first arrival, last finish] during which the live contexts' blocks exceed
    `num_blocks`."""
    events = sorted((t, sign * blocks) for rec in records for start, end, blocks in context_spans(rec, block_size)
                    for t, sign in ((start, 1), (end, -1)))
    if not events:
        return 0.0
    total, over, live = events[-1][0] - events[0][0], 0.0, 0
    for (t, delta), (t_next, _) in zip(events, events[1:]):
        live += delta
        over += (t_next - t) * (live > num_blocks)
    return over / total if total > 0 else 0.0


def idle_waiting(result: ReplayResult) -> float:
    """Seconds the engine was idle after a step that left calls waiting."""
    steps = result.engine_stats.iterations
    return sum(max(b.start - (a.start + a.duration), 0.0) for a, b in zip(steps, steps[1:]) if a.num_waiting)


def anatomy(result: ReplayResult, num_blocks: int) -> Anatomy:
    """`result`'s pressure and JCT parts, over its programs (top-level ones)."""
    records = [r for r in result.records if r.parent_id is None]
    n = len(records)

    def mean(kind: CallKind, part: str) -> float:
        return sum(getattr(c, part) for r in records for c in r.calls.values() if c.kind is kind) / n

    stats = result.engine_stats
    return Anatomy(overflow=overflow_fraction(records, num_blocks, bench.BLOCK_SIZE),
                   busy=stats.busy_time / result.summary.makespan,
                   idle_waiting=idle_waiting(result) / result.summary.makespan,
                   prefill_steps=sum(i.duration for i in stats.iterations if i.num_prefill_tokens) / stats.busy_time,
                   makespan=result.summary.makespan, mean_jct=result.summary.mean_jct,
                   tool=sum(c.latency for r in records for c in r.calls.values() if c.kind is CallKind.TOOL) / n,
                   queue=mean(CallKind.LLM, "queue_wait"), engine=mean(CallKind.LLM, "service_time"),
                   computed=bench.counts_of(result)["computed"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results/vllm_cpu.jsonl"))
    parser.add_argument("--policies", default="fcfs", help="comma-separated policy names (fcfs plays stock)")
    parser.add_argument("--programs", default="8")
    parser.add_argument("--rates", default="2")
    parser.add_argument("--blocks", default="48", help="KV blocks incl. vLLM's null block, as --num-gpu-blocks")
    parser.add_argument("--steps", default="5")
    parser.add_argument("--max-model-len", type=int, default=1024)
    parser.add_argument("--tool-scale", type=float, default=1.0, help="recorded tool durations times this")
    args = parser.parse_args()
    runs = bench.read_runs(args.results)
    profile = bench.calibrated_profile(runs, args.results)
    last = runs[-1]
    latency = bench.client_latency(runs)
    print("| " + " | ".join(COLUMNS) + " |\n|" + "---:|" * 4 + "---|" + "---:|" * (len(COLUMNS) - 5))
    for n, rate, blocks, num_steps in itertools.product(*(
            [t(v) for v in s.split(",")] for t, s in ((int, args.programs), (float, args.rates), (int, args.blocks),
                                                      (int, args.steps)))):
        w = dict(last.workload, programs=n, rate=rate, num_gpu_blocks=blocks, steps=num_steps,
                 max_model_len=args.max_model_len, tool_scale=args.tool_scale)
        work = bench.workload(w)
        gap, reprefill = gap_and_reprefill(work[0], work[1], CostModel(profile))
        for policy in args.policies.split(","):
            a = anatomy(bench.sim_run(w, profile, policy, work, latency), blocks - 1)
            cells = [n, f"{rate:g}", blocks, num_steps, policy, f"{gap:.3f}", f"{reprefill:.3f}", f"{a.overflow:.3f}",
                     f"{a.busy:.2f}", f"{a.idle_waiting:.2f}", f"{a.prefill_steps:.2f}", f"{a.makespan:.1f}",
                     f"{a.mean_jct:.2f}", f"{a.tool:.2f}", f"{a.queue:.2f}", f"{a.engine:.2f}", f"{a.other:.2f}",
                     f"{a.computed:,}"]
            print("| " + " | ".join(map(str, cells)) + " |", flush=True)

if __name__ == "__main__":
    main()
