"""Scheduler overhead: one scheduling decision over 10,000 waiting calls from 1,000 programs.

A decision is `ProgramScheduler.order_waiting(now)` + `pick_victim(running)` (256 running calls),
the two calls an engine makes per iteration. Reported per policy: the median and p99 over repeated
decisions (the clock advances 1 ms between decisions, so due promotions are processed as they
come), the median cost of one arrival (`add_call`, which keeps the queue sorted), and, for
comparison, a plain `sorted()` of the 10,000 calls by their cached keys from a shuffled order (what
a non-incremental decision would cost at least) and the first decision after the calls arrived,
which processes a burst of due promotions (the worst case: many calls starving at once).

Run: .venv/bin/python benchmarks/scheduler_overhead.py [--repeats N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from operator import attrgetter

from rich.console import Console
from rich.table import Table

from agentrt.engine_adapters.base import SchedHints
from agentrt.runtime.scheduling.policies import PolicyName
from agentrt.runtime.scheduling.scheduler import ProgramScheduler

NUM_CALLS, NUM_PROGRAMS, NUM_RUNNING = 10_000, 1_000, 256


def build(policy: str, seed: int = 0) -> tuple[ProgramScheduler, list, float, list[float], tuple[float, int]]:
    """A scheduler holding NUM_CALLS waiting calls and NUM_RUNNING running ones."""
    rng = random.Random(seed)
    sched = ProgramScheduler(policy)
    service = [rng.expovariate(1 / 30) for _ in range(NUM_PROGRAMS)]
    now, arrival_costs = 0.0, []
    for i in range(NUM_CALLS + NUM_RUNNING):
        now += 0.01
        p = rng.randrange(NUM_PROGRAMS)
        hints = SchedHints(program_arrival=p * 0.1, program_service=service[p],
                           priority=service[p] * rng.random(), gap_samples=(1.0, 2.0, 4.0))
        t0 = time.perf_counter()
        sched.add_call(f"c{i}", f"p{p}", hints, now, prefill_time=rng.uniform(0.01, 2.0))
        arrival_costs.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    running = sched.order_waiting(now)[:NUM_RUNNING]
    burst = (time.perf_counter() - t0, sched.statistics().num_promotions)
    for call in running:
        sched.on_scheduled(call, now)
    sched.on_iteration(running, 0.05)
    return sched, running, now, arrival_costs, burst


def measure(policy: str, repeats: int) -> dict[str, float]:
    sched, running, now, arrival_costs, burst = build(policy)
    promotions_before = sched.statistics().num_promotions
    times = []
    for _ in range(repeats):
        now += 0.001
        t0 = time.perf_counter()
        order = sched.order_waiting(now)
        sched.pick_victim(running)
        times.append(time.perf_counter() - t0)
    assert len(order) == NUM_CALLS
    keys = [c.key for c in order]
    random.Random(1).shuffle(order)
    sort_times = []
    for _ in range(max(repeats // 10, 5)):
        t0 = time.perf_counter()
        sorted(order, key=attrgetter("key"))
        sort_times.append(time.perf_counter() - t0)
    del keys
    times.sort()
    us = 1e6
    return {"median": statistics.median(times) * us, "p99": times[int(0.99 * (len(times) - 1))] * us,
            "arrival": statistics.median(arrival_costs) * us, "resort": statistics.median(sort_times) * us,
            "promotions": sched.statistics().num_promotions - promotions_before,
            "burst": burst[0] * us, "burst_n": burst[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=500)
    args = parser.parse_args()
    table = Table(title=f"One decision over {NUM_CALLS:,} waiting calls from {NUM_PROGRAMS:,} programs "
                        f"({NUM_RUNNING} running), microseconds")
    for col in ("policy", "decision median", "decision p99", "under 1 ms", "add_call median",
                "promotions in run", "first decision (burst)", "plain sort (baseline)"):
        table.add_column(col, justify="right" if col != "policy" else "left")
    for name in PolicyName:
        r = measure(name.value, args.repeats)
        table.add_row(name.value, f"{r['median']:.1f}", f"{r['p99']:.1f}",
                      "yes" if r["median"] < 1000 else "NO", f"{r['arrival']:.1f}", f"{r['promotions']:.0f}",
                      f"{r['burst']:.0f} ({r['burst_n']:.0f} promoted)", f"{r['resort']:.0f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
