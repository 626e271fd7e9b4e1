"""Submit the program instances (all at once or as Poisson arrivals) and report each as it ends."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from agentrt.engine_adapters.base import Engine
from agentrt.exceptions import ConfigError, ProgramCancelledError, ProgramFailedError
from agentrt.programs.decorators import Program
from agentrt.runtime.limits import RunLimits
from agentrt.runtime.observer import Observer
from agentrt.runtime.runtime import ProgramHandle, Runtime
from agentrt.submit.results import ResultLine, jsonable


@dataclass(slots=True, frozen=True)
class SubmitPlan:
    """Instances of `program`, one per dict of keyword arguments. `rate`: Poisson arrivals per
    second of runtime time (None: all at once); `seed` fixes the arrival times."""

    program: Program[Any, Any]
    inputs: tuple[dict[str, Any], ...]
    rate: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rate is not None and not self.rate > 0:
            raise ConfigError(f"--rate {self.rate!r}: the arrival rate must be > 0 programs per second")

    def arrival_times(self) -> list[float]:
        """Offsets from the start: 0 for all without a rate, else exponential gaps (first at 0)."""
        if self.rate is None:
            return [0.0] * len(self.inputs)
        rng = random.Random(self.seed)
        times, t = [], 0.0
        for i in range(len(self.inputs)):
            times.append(t)
            t += rng.expovariate(self.rate)
        return times


async def run_plan(plan: SubmitPlan, make_engine: Callable[[], Engine], policy: str, *, observers: Sequence[Observer] = (),
                   on_submit: Callable[[int], None] = lambda i: None,
                   on_result: Callable[[ResultLine], None] = lambda r: None,
                   limits: RunLimits | None = None) -> None:
    """Run every instance of the plan; `on_result` gets each ResultLine as its program ends.
    A failing program is reported as failed; the others go on. The engine is built here, inside
    the event loop. `limits`: the per-program timeout and the run's deadline."""
    limits = limits or RunLimits()
    async with Runtime(engine=make_engine(), policy=policy, observers=observers,
                       program_timeout=limits.program_timeout, deadline=limits.deadline) as rt:
        async with anyio.create_task_group() as tg:
            start = anyio.current_time()
            for i, (at, kwargs) in enumerate(zip(plan.arrival_times(), plan.inputs)):
                await anyio.sleep_until(start + at)
                handle = rt.submit(plan.program, **kwargs)
                on_submit(i)
                tg.start_soon(_report, handle, i, kwargs, on_result)


async def _report(handle: ProgramHandle[Any], index: int, kwargs: dict[str, Any],
                  on_result: Callable[[ResultLine], None]) -> None:
    result: Any = None
    try:
        result = await handle.result()
    except (ProgramFailedError, ProgramCancelledError):
        pass  # the record says how it ended
    rec = handle.record
    on_result(ResultLine(index=index, program_id=rec.program_id, name=rec.name, inputs=kwargs,
                         status=rec.status.value, result=jsonable(result), error=rec.error,
                         traceback=rec.traceback, start=rec.start, finish=rec.finish or rec.start,
                         jct=max(0.0, rec.jct), attained_service=rec.attained_service, num_calls=rec.num_calls))
