"""The side-by-side scheduler benchmark: every policy at every rate, same arrivals, one run.

Without explicit rates it finds the knee: it replays the programs one at a time (the unloaded
JCT, U), then sweeps Poisson rates r_k = r_0 * sqrt(2)^k from r_0 = 2/U (about two programs in
the system) under `fcfs` until fcfs's mean JCT reaches 3U, then runs every other policy at the
same rates. A policy's capacity is the highest swept rate at which its mean JCT stays within 2U
(so it is resolved to a factor of sqrt(2)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentrt.engine_adapters.factory import create_engine, uses_virtual_time
from agentrt.exceptions import ConfigError, DeadlinePassedError
from agentrt.replay.driver import ReplayResult, replay
from agentrt.replay.trace import TraceProgram
from agentrt.replay.workload import Scaling, poisson_arrivals
from agentrt.runtime.limits import DeadlineBudget, RunLimits
from agentrt.runtime.scheduling.policies.config import PolicyName
from agentrt.runtime.runner import run

ALL_POLICIES = tuple(p.value for p in PolicyName)
KNEE_FACTOR = 3.0  # the knee: fcfs mean JCT >= 3x unloaded (issue 5)
CAPACITY_FACTOR = 2.0  # capacity: mean JCT within 2x unloaded
SWEEP_START = 2.0  # r_0 = SWEEP_START / U
SWEEP_STEP = 2 ** 0.5
MAX_STEPS = 16


@dataclass(slots=True)
class BenchSpec:
    programs: Sequence[TraceProgram]
    scaling: Scaling
    policies: Sequence[str] = ALL_POLICIES
    rates: Sequence[float] | None = None
    seed: int = 0
    engine: str = "sim"
    engine_options: dict[str, object] = field(default_factory=dict)
    system_prompt_tokens: int = 0
    program_timeout: float | None = None
    deadline: DeadlineBudget = field(default_factory=lambda: DeadlineBudget(None))

    def __post_init__(self) -> None:
        unknown = [p for p in self.policies if p not in ALL_POLICIES]
        if unknown:
            raise ConfigError(f"unknown policies {unknown}; valid: {', '.join(ALL_POLICIES)}")
        if self.rates is not None and (not self.rates or any(not r > 0 for r in self.rates)):
            raise ConfigError(f"--rates must be positive numbers, got {list(self.rates)}")


@dataclass(slots=True)
class BenchResult:
    unloaded: ReplayResult | None
    runs: list[ReplayResult]
    knee_rate: float | None

    def at(self, policy: str, rate: float) -> ReplayResult:
        return next(r for r in self.runs if r.policy == policy and r.rate == rate)

    @property
    def rates(self) -> list[float]:
        return sorted({r.rate for r in self.runs if r.rate is not None})

    @property
    def policies(self) -> list[str]:
        return list(dict.fromkeys(r.policy for r in self.runs))

    def capacity(self, policy: str) -> float | None:
        """Highest swept rate at which `policy`'s mean JCT stays within 2x unloaded."""
        if self.unloaded is None:
            return None
        limit = CAPACITY_FACTOR * self.unloaded.summary.mean_jct
        ok = [r.rate for r in self.runs if r.policy == policy and r.rate is not None and r.summary.mean_jct <= limit]
        return max(ok) if ok else 0.0


def replay_once(spec: BenchSpec, policy: str, rate: float | None) -> ReplayResult:
    """One replay on a fresh engine; rate None = one program at a time."""
    arrivals = None if rate is None else poisson_arrivals(len(spec.programs), rate, spec.seed)

    async def main() -> ReplayResult:
        engine = create_engine(spec.engine, **spec.engine_options)  # type: ignore[arg-type]
        limits = RunLimits(spec.program_timeout, spec.deadline.remaining())
        return await replay(spec.programs, engine, policy, arrivals, spec.scaling, rate=rate,
                            system_prompt_tokens=spec.system_prompt_tokens, limits=limits)

    return run(main, virtual_time=uses_virtual_time(spec.engine))


def run_bench(spec: BenchSpec, *, on_run: Callable[[str, ReplayResult], None] | None = None,
              on_plan: Callable[[int], None] | None = None) -> BenchResult:
    """Run the matrix. `on_plan(n)` announces how many more runs are planned; `on_run` reports each."""
    def do(policy: str, rate: float | None) -> ReplayResult:
        if spec.deadline.expired:
            where = f"rate {rate:.4g}/s" if rate else "unloaded"
            raise DeadlinePassedError(f"--deadline passed; the bench stopped before {policy} at {where}")
        result = replay_once(spec, policy, rate)
        if on_run is not None:
            on_run(policy, result)
        return result

    runs: list[ReplayResult] = []
    if spec.rates is not None:
        if on_plan:
            on_plan(len(spec.rates) * len(spec.policies))
        runs = [do(p, r) for r in spec.rates for p in spec.policies]
        return BenchResult(unloaded=None, runs=runs, knee_rate=None)

    if on_plan:
        on_plan(1 + 4)
    unloaded = do("fcfs", None)
    u = unloaded.summary.mean_jct
    rate = SWEEP_START / u
    knee = None
    for _ in range(MAX_STEPS):
        result = do("fcfs", rate)
        runs.append(result)
        if result.summary.mean_jct >= KNEE_FACTOR * u:
            knee = rate
            break
        if on_plan:
            on_plan(1)
        rate *= SWEEP_STEP
    rates = [r.rate for r in runs if r.rate is not None]
    others = [p for p in spec.policies if p != "fcfs"]
    if on_plan:
        on_plan(len(rates) * len(others))
    runs += [do(p, r) for r in rates for p in others]
    if "fcfs" not in spec.policies:
        runs = [r for r in runs if r.policy != "fcfs"]
    return BenchResult(unloaded=unloaded, runs=runs, knee_rate=knee)


def ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(b) else math.nan
