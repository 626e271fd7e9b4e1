"""`Lockstep`: several `SimEngine` replicas on one virtual clock, driven by one loop.

Each replica alone runs its own loop (`engine.py`) and may run iterations ahead of the clock up to
the next moment another task can act (`clock.horizon`). Side by side that is not enough: a call
that replica B finishes wakes its program, which may send its next call to replica A at that
instant, so A must not have simulated past it. Separate loops cannot see each other's plans (two
loops runnable at the same instant would each compute the horizon without the other's next step,
and trio runs them in random order), so one loop drives all replicas:

- at each instant, once every other task has blocked (`clock.settle`), each replica whose step has
  ended takes its inbox and runs its next step, bounded by the clock's horizon and by the end of
  every other replica's current step (the earliest moment another replica can wake a program);
- replicas are stepped in index order, so identical inputs give identical runs;
- the loop then sleeps until the earliest step end, or until a call arrives at an idle replica
  (or a pin of an idle replica expires), and wakes the callers of the calls that finished.

A replica's step is cut at the others' step ends even when they finish nothing, so replicas that
are busy together advance about one iteration per step; such steps that finish nothing are chained
without yielding to the event loop (nothing else can act before the first finish or the horizon),
so the cost is one `_run` per step rather than one trio round trip. Alternatives considered: per-replica loops with a shared barrier
(the same bound, more tasks) and optimistic run-ahead with rollback (faster, but the batcher has no
snapshots to roll back to).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import anyio

from agentrt.engine_adapters.sim import clock
from agentrt.exceptions import EngineError

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from agentrt.engine_adapters.sim.engine import SimEngine
    from agentrt.engine_adapters.sim.sequence import SimSequence


class Lockstep:
    """The shared loop. Engines `join` when they start and `leave` when they stop; the loop runs
    while at least one engine is in it."""

    def __init__(self) -> None:
        self.engines: list[SimEngine] = []
        self._steps: dict[int, tuple[float, list[SimSequence]]] = {}  # id(engine) -> (end, finished)
        self._wake = anyio.Event()
        self._scope: anyio.CancelScope | None = None

    def join(self, engine: SimEngine, task_group: TaskGroup) -> None:
        self.engines.append(engine)
        engine._wake = self._wake
        if self._scope is None:
            self._scope = anyio.CancelScope()
            task_group.start_soon(self._loop, self._scope)

    def leave(self, engine: SimEngine) -> None:
        """`engine` stopped: calls it finished but had not handed back yet fail with EngineError."""
        if engine not in self.engines:
            return
        self.engines.remove(engine)
        _, finished = self._steps.pop(id(engine), (0.0, []))
        for seq in finished:
            seq.error = EngineError("the SimEngine was stopped while this call was in flight")
            seq.done.set()
        if not self.engines and self._scope is not None:
            self._scope.cancel()

    async def _loop(self, scope: anyio.CancelScope) -> None:
        virtual = clock.is_virtual()
        with scope:
            while True:
                await clock.settle(virtual)
                now = anyio.current_time()
                self._advance(now, clock.horizon(virtual, now))
                self._wake = anyio.Event()
                for engine in self.engines:
                    engine._wake = self._wake
                with anyio.CancelScope(deadline=self._deadline()):
                    await self._wake.wait()
                self._hand_back(anyio.current_time())

    def _advance(self, now: float, horizon: float) -> None:
        """Step every replica whose step has ended; then, while nothing else can act (before the
        horizon and before the first step that finishes a call ends), step again, in time order,
        each replica whose step ended without finishing a call, at that step's end."""
        for engine in list(self.engines):
            if id(engine) not in self._steps:
                self._step(engine, now, horizon)
        while (silent := self._first_silent_step()) is not None:
            end, engine = silent
            first_finish = min((end for end, done in self._steps.values() if done), default=math.inf)
            if end >= min(horizon, first_finish):
                return
            del self._steps[id(engine)]
            self._step(engine, end, horizon)

    def _first_silent_step(self) -> tuple[float, SimEngine] | None:
        """The earliest-ending step that finishes no call (ties: the lower replica index)."""
        silent = [(step[0], i) for i, e in enumerate(self.engines)
                  if (step := self._steps.get(id(e))) is not None and not step[1]]
        if not silent:
            return None
        end, i = min(silent)
        return end, self.engines[i]

    def _step(self, engine: SimEngine, now: float, horizon: float) -> None:
        batcher = engine._batcher
        assert batcher is not None, "engines join the lockstep after building their batcher"
        engine._drain()
        others = min((end for end, _ in self._steps.values()), default=math.inf)
        end, finished = engine._run(batcher, now, min(horizon, others))
        if end > now:
            self._steps[id(engine)] = (end, finished)

    def _deadline(self) -> float:
        """The earliest step end, or pin expiry of an idle replica."""
        ends = [end for end, _ in self._steps.values()]
        expiries = [e._batcher.next_pin_expiry() for e in self.engines
                    if id(e) not in self._steps and e._batcher is not None]
        return min(ends + expiries, default=math.inf)

    def _hand_back(self, now: float) -> None:
        for engine in self.engines:
            step = self._steps.get(id(engine))
            if step is not None and step[0] <= now:
                del self._steps[id(engine)]
                for seq in step[1]:
                    seq.done.set()
