"""Session 8 experiment (issue 15): walk from `continuum` to `agentrt` one policy difference at a
time on a held_out_gate grid. Each variant is agentrt with some of its hooks replaced by continuum's.

    .venv/bin/python benchmarks/s8_walk.py cpu|cpu2 FLAGS [CONFIG] [CELL_FILTER]

FLAGS: comma-separated, from
  corder    continuum's sort key: (not pinned, program arrival, call arrival), always
  progfcfs  agentrt's key but by program arrival, not call arrival (when memory is not short)
  pinfirst  pinned-first also while memory is not short
  levelprog inside an ATLAS level (memory short), by program arrival, then call arrival
  noatlas   never ATLAS order (as if memory were never short)
  nopre     no preemption for order (continuum, as vLLM FCFS)
  crelease  continuum's pin release order (latest program first)
  cshare    continuum's pinned-share bound (1.0)
  nogate    residency_fraction None
CONFIG: extra PolicyConfig fields, a Python dict literal. Prints per cell fcfs, variant and the
ratios, then a SUMMARY line as session 7's s7_gate_variants.py.
"""

from __future__ import annotations

import ast
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import held_out_gate as h  # noqa: E402
import vllm_cpu as bench  # noqa: E402

from agentrt.runtime.scheduling import policies  # noqa: E402
from agentrt.runtime.scheduling.pinning import SortKey  # noqa: E402
from agentrt.runtime.scheduling.policies import AgentRTPolicy, PolicyConfig, PolicyName  # noqa: E402
from agentrt.runtime.scheduling.policies.base import CallState, PinState, ProgramState  # noqa: E402


def walk_policy(flags: set[str]) -> type[AgentRTPolicy]:
    class Walk(AgentRTPolicy):
        def sort_key(self, call: CallState, program: ProgramState, pinned: bool) -> SortKey:
            if "corder" in flags:
                return (not pinned, call.program_arrival, call.arrival)
            short = call.memory_short and "noatlas" not in flags
            if not short:
                first = (not pinned) if "pinfirst" in flags else self.config.pinned_first
                when = call.program_arrival if "progfcfs" in flags else 0.0
                return (0, first, when, call.arrival)
            key = super().sort_key(call, program, pinned)
            if "levelprog" in flags:
                return (*key[:3], call.program_arrival, call.arrival)
            return key

        def can_preempt_for(self, candidate: CallState, victim: CallState) -> bool:
            return False if "nopre" in flags else super().can_preempt_for(candidate, victim)

        def max_pinned_share(self) -> float:
            return 1.0 if "cshare" in flags else super().max_pinned_share()

        def pin_release_key(self, pin: PinState) -> SortKey:
            if "crelease" in flags:
                return (-pin.program_arrival, -pin.start)
            return super().pin_release_key(pin)
    return Walk


def patch_scheduler(flags: set[str]) -> None:
    """Gate variants (scheduler-side), by flag: gshort (gate only while memory is short), gbusyX (gate only
    while the engine's busy share, an EWMA over 5 s of engine time, is at least X)."""
    from agentrt.runtime.scheduling import scheduler as S
    P = S.ProgramScheduler
    admit, iters = P._admit_pending, P.on_iterations
    busy = [f for f in flags if f.startswith("gbusy")]
    theta = float(busy[0][5:]) if busy else None

    def on_iterations(self, scheduled, durations):  # type: ignore[no-untyped-def]
        self._s8_busy = getattr(self, "_s8_busy", 0.0) + sum(durations)
        return iters(self, scheduled, durations)

    def admit_pending(self, now):  # type: ignore[no-untyped-def]
        engaged = True
        if "gshort" in flags:
            engaged = self._demand_exceeds_free
        if theta is not None:
            last = getattr(self, "_s8_last", now)
            dt = now - last
            b = getattr(self, "_s8_busy", 0.0)
            self._s8_busy = 0.0
            self._s8_last = now
            share = getattr(self, "_s8_share", 1.0)
            if dt > 0:
                a = math.exp(-dt / 5.0)
                share = a * share + (1 - a) * min(b / dt, 1.0)
            self._s8_share = share
            engaged = engaged and share >= theta
        if not engaged:
            for call in self._pending.ordered():
                program = self.programs[call.program_id]
                if not program.resident:
                    self._make_resident(program)
            return None
        return admit(self, now)
    P._admit_pending = admit_pending
    mins = [f for f in flags if f.startswith("gmin")]
    if mins:
        k = int(mins[0][4]); fit = mins[0].endswith("fit")

        def admit_min(self, now):  # type: ignore[no-untyped-def]
            budget = (self.policy.config.residency_fraction or 1.0) * self._kv_tokens_within_reach()
            backfill_s = self.policy.config.residency_backfill_s
            tried_idle = False
            skipped: set[str] = set()
            for call in self._pending.ordered():
                program = self.programs[call.program_id]
                if program.resident or program.program_id in skipped:
                    continue
                num_resident = sum(1 for p in self.programs.values() if p.resident)
                room = self._kv_tokens_within_reach() if fit else math.inf
                if num_resident < k and self._resident_tokens + program.context_tokens <= room:
                    self._make_resident(program)
                    continue
                if self._resident_tokens and self._resident_tokens + program.context_tokens > budget:
                    if not tried_idle:
                        tried_idle = True
                        self._evict_idle(now, self._smallest_gated(), budget)
                    if self._resident_tokens + program.context_tokens > budget:
                        if not skipped and call.wait_at(now) >= backfill_s:
                            return
                        skipped.add(program.program_id)
                        continue
                self._make_resident(program)
        P._admit_pending = admit_min
    P.on_iterations = on_iterations


def main() -> None:
    grid_name, flag_text = sys.argv[1], sys.argv[2]
    flags = {f for f in flag_text.split(",") if f and f != "-"}
    extra = ast.literal_eval(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else {}
    if "nogate" in flags:
        extra["residency_fraction"] = None
    grid = h.cpu_grid() if grid_name == "cpu" else h.cpu2_grid()
    if len(sys.argv) > 4:
        names = ("n", "rate", "blocks", "steps", "max_len", "seed")
        grid = [g for g in grid if eval(sys.argv[4], {}, dict(zip(names, g)))]  # noqa: S307
    policies.POLICY_CLASSES[PolicyName.AGENTRT] = walk_policy(flags)
    patch_scheduler(flags)
    path = Path("docs/vllm_cpu_runs_s5.jsonl")
    runs = bench.read_runs(path)
    profile = bench.calibrated_profile(runs, path)
    last, latency = runs[-1], bench.client_latency(runs)
    cache_f = Path(f"/tmp/s8B/fcfs_{grid_name}.json")
    cache = json.loads(cache_f.read_text()) if cache_f.exists() else {}
    rows = []
    for n, rate, blocks, steps, max_len, seed in grid:
        w = dict(last.workload, programs=n, rate=rate, num_gpu_blocks=blocks, steps=steps, max_model_len=max_len,
                 tool_scale=1.0, seed=seed)
        work = bench.workload(w)
        cell = f"{n}p {blocks}b {steps}s {rate:g}/s len {max_len} seed {seed}"
        if cell not in cache:
            s = h.sim_run(w, profile, "fcfs", work, latency).summary
            cache[cell] = [s.mean_jct, s.p99_jct]
        result = h.sim_run(w, profile, PolicyConfig(name="agentrt", **extra), work, latency)
        a, stats = result.summary, result.engine_stats
        f = cache[cell]
        rows.append((a.mean_jct / f[0], a.p99_jct / f[1]))
        print(f"{cell} | fcfs {f[0]:.2f} / {f[1]:.2f} | {a.mean_jct:.2f} / {a.p99_jct:.2f} | "
              f"{a.mean_jct / f[0]:.3f} | {a.p99_jct / f[1]:.3f} | reprefilled {stats.num_reprefilled_tokens} "
              f"prefill {stats.num_prefill_tokens} busy {stats.busy_time:.2f}", flush=True)
    cache_f.write_text(json.dumps(cache))

    def geo(xs: list[float]) -> float:
        return math.exp(sum(map(math.log, xs)) / len(xs))
    print(f"SUMMARY {grid_name} [{flag_text}] {extra}: cells {len(rows)}, mean>1.02: {sum(m > 1.02 for m, _ in rows)}, "
          f"p99>fcfs: {sum(p > 1.0 for _, p in rows)}, geo mean {geo([m for m, _ in rows]):.3f}, "
          f"geo p99 {geo([p for _, p in rows]):.3f}, worst mean {max(m for m, _ in rows):.3f}, "
          f"worst p99 {max(p for _, p in rows):.3f}", flush=True)


if __name__ == "__main__":
    main()
