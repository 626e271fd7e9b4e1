"""The side-by-side scheduler benchmark: every policy at every rate, same arrivals, one run.

Without explicit rates it finds the knee: it replays the programs one at a time (the unloaded
JCT, U), then sweeps Poisson rates r_k = r_0 * sqrt(2)^k from r_0 = 2/U (about two programs in
the system) under `fcfs` until fcfs's mean JCT reaches 3U, then runs every other policy at the
same rates. With `bisect`, it then narrows each bracket to 5% (agentrt/replay/bisect.py): the
knee (fcfs mean JCT = 3U) and each policy's capacity (the highest rate at which its mean JCT
stays within 2U); without it both are resolved to the sweep's factor of sqrt(2).

Independent runs go to `jobs` worker processes. The simulator is deterministic under virtual
time, so the results do not depend on `jobs` or on the order in which runs finish.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace

from agentrt.engine_adapters.factory import create_engine, uses_virtual_time
from agentrt.exceptions import ConfigError, DeadlinePassedError
from agentrt.replay.driver import ReplayResult, replay
from agentrt.replay.trace import TraceProgram
from agentrt.replay.workload import Scaling, poisson_arrivals
from agentrt.runtime.limits import DeadlineBudget, RunLimits
from agentrt.runtime.scheduling.policies.config import PolicyName
from agentrt.runtime.runner import run

ALL_POLICIES = tuple(p.value for p in PolicyName)
BOUND_POLICIES = ("oracle",)  # clairvoyant references: reported beside the others, never a default
KNEE_FACTOR = 3.0  # the knee: fcfs mean JCT >= 3x unloaded (issue 5)
CAPACITY_FACTOR = 2.0  # capacity: mean JCT within 2x unloaded
SWEEP_START = 2.0  # r_0 = SWEEP_START / U
SWEEP_STEP = 2 ** 0.5
MAX_STEPS = 16

Run = tuple[str, "float | None"]  # (policy, rate); rate None = unloaded
OnRun = Callable[[str, ReplayResult], None]


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
    jobs: int = 1  # worker processes for independent runs
    bisect: bool = True  # narrow the knee and capacities to 5% (knee search only)

    def __post_init__(self) -> None:
        unknown = [p for p in self.policies if p not in ALL_POLICIES]
        if unknown:
            raise ConfigError(f"unknown policies {unknown}; valid: {', '.join(ALL_POLICIES)}")
        if self.rates is not None and (not self.rates or any(not r > 0 for r in self.rates)):
            raise ConfigError(f"--rates must be positive numbers, got {list(self.rates)}")
        if self.jobs < 1:
            raise ConfigError(f"--jobs must be >= 1, got {self.jobs}")
        if self.jobs > 1 and not uses_virtual_time(self.engine):
            raise ConfigError(f"--jobs {self.jobs} needs the simulator: engine {self.engine!r} runs in real "
                              "time on one device, so parallel runs would share it; use --jobs 1")


@dataclass(slots=True)
class BenchResult:
    unloaded: ReplayResult | None
    runs: list[ReplayResult]
    knee_rate: float | None
    probes: list[ReplayResult] = field(default_factory=list)  # bisection runs (not in the table)
    capacities: dict[str, float] = field(default_factory=dict)  # bisected, when the bench bisected

    def at(self, policy: str, rate: float) -> ReplayResult:
        return next(r for r in self.runs if r.policy == policy and r.rate == rate)

    @property
    def rates(self) -> list[float]:
        return sorted({r.rate for r in self.runs if r.rate is not None})

    @property
    def policies(self) -> list[str]:
        return list(dict.fromkeys(r.policy for r in self.runs))

    def capacity(self, policy: str) -> float | None:
        """Highest rate at which `policy`'s mean JCT stays within 2x unloaded: bisected to 5%
        when the bench bisected, else the highest swept rate."""
        if self.unloaded is None:
            return None
        if policy in self.capacities:
            return self.capacities[policy]
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


def _replay_in_worker(spec: BenchSpec, policy: str, rate: float | None) -> ReplayResult:
    return replace(replay_once(spec, policy, rate), records=[])  # records stay in the worker


class Runner:
    """Runs batches of independent replays, in `spec.jobs` processes, reporting each as it ends."""

    def __init__(self, spec: BenchSpec, on_run: OnRun | None) -> None:
        self.spec, self.on_run = spec, on_run
        self._pool = ProcessPoolExecutor(spec.jobs) if spec.jobs > 1 else None

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def many(self, runs: Iterable[Run]) -> list[ReplayResult]:
        """The results of `runs`, in their order."""
        runs = list(runs)
        if self._pool is None:
            return [self._serial(p, r) for p, r in runs]
        if runs:
            self._check_deadline(*runs[0])
        futures = [self._pool.submit(_replay_in_worker, self.spec, p, r) for p, r in runs]
        for fut in as_completed(futures):  # progress in completion order
            self._report(fut.result())
        return [f.result() for f in futures]

    def one(self, policy: str, rate: float | None) -> ReplayResult:
        return self.many([(policy, rate)])[0]

    def _serial(self, policy: str, rate: float | None) -> ReplayResult:
        self._check_deadline(policy, rate)
        return self._report(replay_once(self.spec, policy, rate))

    def _check_deadline(self, policy: str, rate: float | None) -> None:
        """Raises DeadlinePassedError once `--deadline` has passed (before starting a run)."""
        if self.spec.deadline.expired:
            where = f"rate {rate:.4g}/s" if rate else "unloaded"
            raise DeadlinePassedError(f"--deadline passed; the bench stopped before {policy} at {where}")

    def _report(self, result: ReplayResult) -> ReplayResult:
        if self.on_run is not None:
            self.on_run(result.policy, result)
        return result


def run_bench(spec: BenchSpec, *, on_run: OnRun | None = None,
              on_plan: Callable[[int], None] | None = None) -> BenchResult:
    """Run the matrix. `on_plan(n)` announces how many more runs are planned; `on_run` reports each."""
    from agentrt.replay.bisect import bisect_all

    plan = on_plan or (lambda n: None)
    with Runner(spec, on_run) as runner:
        if spec.rates is not None:
            plan(len(spec.rates) * len(spec.policies))
            runs = runner.many((p, r) for r in spec.rates for p in spec.policies)
            return BenchResult(unloaded=None, runs=runs, knee_rate=None)
        plan(1 + 4)
        unloaded = runner.one("fcfs", None)
        runs, knee = _sweep_fcfs(runner, unloaded.summary.mean_jct, plan)
        rates = [r.rate for r in runs if r.rate is not None]
        others = [p for p in spec.policies if p != "fcfs"]
        plan(len(rates) * len(others))
        runs += runner.many((p, r) for r in rates for p in others)
        bench = BenchResult(unloaded=unloaded, runs=runs, knee_rate=knee)
        if spec.bisect:
            bisect_all(bench, runner, plan)
    if "fcfs" not in spec.policies:
        bench.runs = [r for r in bench.runs if r.policy != "fcfs"]
    return bench


def _sweep_fcfs(runner: Runner, u: float, plan: Callable[[int], None]) -> tuple[list[ReplayResult], float | None]:
    """fcfs at r_0 * sqrt(2)^k until its mean JCT reaches 3U (the knee); two rates per batch."""
    runs: list[ReplayResult] = []
    rate = SWEEP_START / u
    width = max(1, min(runner.spec.jobs, 2))  # a second rate in parallel, rarely wasted
    while len(runs) < MAX_STEPS:
        batch = [rate * SWEEP_STEP ** i for i in range(width)]
        rate = batch[-1] * SWEEP_STEP
        for result in runner.many(("fcfs", r) for r in batch):
            runs.append(result)
            if result.summary.mean_jct >= KNEE_FACTOR * u:
                return runs, result.rate
        plan(width)
    return runs, None


def ratio(a: float, b: float) -> float:
    return a / b if b and not math.isnan(b) else math.nan


def default_jobs() -> int:
    """One worker per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
