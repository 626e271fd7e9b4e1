"""Bisection of the bench's thresholds to 5%: the knee and each policy's capacity.

Each threshold is a rate where a policy's mean JCT crosses a multiple of the unloaded JCT U:
the knee is where fcfs reaches 3U, a capacity the highest rate within 2U. The sweep brackets
each one within a factor of sqrt(2); each round probes the geometric midpoint of every open
bracket (all of them in parallel) until hi / lo <= 1.05, i.e. three rounds. Mean JCT is assumed
monotone in the rate between the bracket's ends (same seeded arrivals, scaled in time).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentrt.replay.bench import BenchResult, Runner

RESOLUTION = 1.05


@dataclass(slots=True)
class Bracket:
    """`lo` is within the limit (or 0: nothing is), `hi` beyond it (inf: not reached)."""

    policy: str
    limit: float  # mean JCT threshold (s)
    lo: float
    hi: float

    @property
    def open(self) -> bool:
        return self.lo > 0 and math.isfinite(self.hi) and self.hi / self.lo > RESOLUTION

    def probe(self) -> float:
        return math.sqrt(self.lo * self.hi)

    def update(self, rate: float, mean_jct: float) -> None:
        if mean_jct <= self.limit:
            self.lo = rate
        else:
            self.hi = rate


def bracket(bench: BenchResult, policy: str, limit: float) -> Bracket:
    """From the swept runs: the highest rate within `limit` and the lowest beyond it above that."""
    runs = sorted((r for r in bench.runs if r.policy == policy and r.rate is not None), key=lambda r: r.rate or 0)
    lo, hi = 0.0, math.inf
    for r in runs:
        assert r.rate is not None
        if r.summary.mean_jct <= limit:
            lo, hi = r.rate, math.inf
        elif math.isinf(hi):
            hi = r.rate
    return Bracket(policy, limit, lo, hi)


def bisect_all(bench: BenchResult, runner: Runner, plan: Callable[[int], None]) -> None:
    """Narrow the knee and every capacity; fills `bench.knee_rate`, `bench.capacities` and `bench.probes`."""
    from agentrt.replay.bench import CAPACITY_FACTOR, KNEE_FACTOR

    assert bench.unloaded is not None
    u = bench.unloaded.summary.mean_jct
    knee = bracket(bench, "fcfs", KNEE_FACTOR * u)
    capacities = [bracket(bench, p, CAPACITY_FACTOR * u) for p in bench.policies]
    brackets = [knee, *capacities]
    while todo := [b for b in brackets if b.open]:
        plan(len(todo))
        results = runner.many((b.policy, b.probe()) for b in todo)
        for b, result in zip(todo, results):
            assert result.rate is not None
            b.update(result.rate, result.summary.mean_jct)
        bench.probes += results
    if bench.knee_rate is not None:
        bench.knee_rate = knee.hi  # the lowest rate known to reach 3U
    bench.capacities = {b.policy: b.lo for b in capacities}
