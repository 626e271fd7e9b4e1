"""`Lockstep`: several `SimEngine` replicas on one virtual clock, driven by one loop.

Each replica alone runs its own loop (`engine.py`) and may run iterations ahead of the clock up to
the next moment another task can act (`clock.horizon`). Side by side that is not enough: a call
that replica B finishes wakes its program, which may send its next call to replica A at that
instant, so A must not have simulated past it. Separate loops cannot see each other's plans (two
loops runnable at the same instant would each compute the horizon without the other's next step,
and trio runs them in random order), so one loop drives all replicas:

- at each instant, once every other task has blocked (`clock.settle`), each replica whose step has
  ended takes its inbox and runs its next step, bounded by the clock's horizon and by the earliest
  moment another replica can finish a call (and so wake a program): the end of its current step if
  that step finishes a call, else a lower bound (conservative lookahead): each of its calls needs
  at least one iteration per output token still to sample, and no iteration is shorter than the
  cost model's one-token iteration, so none finishes before its step end plus
  min(tokens left) * that duration;
- replicas are stepped in index order, so identical inputs give identical runs;
- an idle replica whose scheduler decides again later (`next_wakeup`: a pin expiry, a promotion,
  an idle release, any of which can admit a held call) takes that time as its step end, so it is
  stepped in time order too;
- the loop then sleeps until the earliest step end, or until a call arrives at an idle replica,
  and wakes the callers of the calls that finished.

Routing order. Each engine sorts its inbox, so one engine does not depend on the order in which
trio runs the tasks woken at one instant (trio reverses each batch of runnable tasks at random,
unseeded). The router in front of the replicas would: round-robin's turn and least-loaded's
counts depend on which call is routed first, so two programs woken together could swap replicas
from run to run. The router therefore hands its calls to the loop (`sequence_routes`): after
every other task has blocked, the loop has them routed in (program, call) order, lets the routed
calls reach their replicas' inboxes (another `settle`) and only then steps the replicas.

Replicas busy together therefore advance a few iterations per step rather than a whole decode
span; steps that finish nothing are chained without yielding to the event loop (nothing else can
act before the first finish or the horizon), so the cost is one `_run` per step, not one trio
round trip. Alternatives considered: per-replica loops with a shared barrier
(the same bound, more tasks) and optimistic run-ahead with rollback (faster, but the batcher has no
snapshots to roll back to).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from agentrt.engine_adapters.sim import clock
from agentrt.engine_adapters.sim.sequence import SimSequence
from agentrt.exceptions import EngineError

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from agentrt.engine_adapters.sim.engine import SimEngine


@dataclass(slots=True)
class _Step:
    """A replica's current step: simulated up to `end`; `finished` are woken when the clock gets
    there; none of its calls can finish before `soonest`. `idle`: nothing ran, `end` is the
    scheduler's next wakeup."""

    end: float
    soonest: float
    finished: list[SimSequence] = field(default_factory=list)
    idle: bool = False


class Lockstep:
    """The shared loop. Engines `join` when they start and `leave` when they stop; the loop runs
    while at least one engine is in it. `lookahead=False` runs one iteration per step (slow; the
    reference the lookahead must equal bit for bit)."""

    def __init__(self, *, lookahead: bool = True) -> None:
        self.lookahead = lookahead
        self.engines: list[SimEngine] = []
        self._steps: dict[int, _Step] = {}  # by id(engine)
        self._wake = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._route: Callable[[], bool] | None = None

    @property
    def running(self) -> bool:
        return self._scope is not None and not self._scope.cancel_called

    def sequence_routes(self, route: Callable[[], bool]) -> None:
        """Call `route()` once every other task has blocked, before stepping, and again after each
        call that returned True (it routed calls: their tasks post them to the replicas)."""
        self._route = route

    def poke(self) -> None:
        """Something is waiting for the loop (a call to route): do not sleep until the next step end."""
        self._wake.set()

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
        step = self._steps.pop(id(engine), None)
        for seq in step.finished if step else ():
            seq.error = EngineError("the SimEngine was stopped while this call was in flight")
            seq.wake()
        if not self.engines and self._scope is not None:
            self._scope.cancel()

    async def _loop(self, scope: anyio.CancelScope) -> None:
        virtual = clock.is_virtual()
        try:
            with scope, clock.loop_running(virtual):
                await self._run(virtual)
        finally:  # calls still to route find their replica stopped
            if self._route is not None:
                self._route()

    async def _run(self, virtual: bool) -> None:
        while True:
            await clock.settle(virtual)
            while self._route is not None and self._route():
                await clock.settle(virtual)
            now = anyio.current_time()
            self._advance(now, clock.horizon(virtual, now))
            self._wake = anyio.Event()
            for engine in self.engines:
                engine._wake = self._wake
            with anyio.CancelScope(deadline=min((s.end for s in self._steps.values()), default=math.inf)):
                await self._wake.wait()
            self._hand_back(anyio.current_time())

    def _advance(self, now: float, horizon: float) -> None:
        """Step every replica that is idle or whose step has ended; then, while nothing else can act
        (before the horizon and before the first step that finishes a call ends), step again, in
        time order, each replica whose step finished no call, at that step's end."""
        ready = [e for e in self.engines if (step := self._steps.get(id(e))) is None or step.idle]
        for engine in self.engines:  # calls that arrived mid-step join at its end: they may finish sooner
            if (step := self._steps.get(id(engine))) is not None and engine._inbox:
                step.soonest = min(step.soonest, _soonest_finish(engine, step.end))
        for engine in ready:  # each bounds the others' steps until its own is known
            engine._drain()
            self._steps[id(engine)] = _Step(now, _soonest_finish(engine, now), idle=True)
        for engine in ready:
            del self._steps[id(engine)]
            self._step(engine, now, horizon)
        while (silent := self._first_silent_step()) is not None:
            end, engine = silent
            first_finish = min((s.end for s in self._steps.values() if s.finished), default=math.inf)
            if end >= min(horizon, first_finish):
                return
            del self._steps[id(engine)]
            self._step(engine, end, horizon)

    def _first_silent_step(self) -> tuple[float, SimEngine] | None:
        """The earliest-ending step that finishes no call (ties: the lower replica index)."""
        silent = [(step.end, i) for i, e in enumerate(self.engines)
                  if (step := self._steps.get(id(e))) is not None and not step.finished]
        if not silent:
            return None
        end, i = min(silent)
        return end, self.engines[i]

    def _step(self, engine: SimEngine, now: float, horizon: float) -> None:
        batcher = engine._batcher
        assert batcher is not None, "engines join the lockstep after building their batcher"
        engine._drain()
        others = min((s.soonest for s in self._steps.values()), default=math.inf) if self.lookahead else now
        end, finished = engine._run(batcher, now, min(horizon, others))
        if end > now:
            self._steps[id(engine)] = _Step(end, end if finished else _soonest_finish(engine, end), finished)
        elif now < (wakeup := batcher.scheduler.next_wakeup()) < math.inf:
            self._steps[id(engine)] = _Step(wakeup, _soonest_finish(engine, wakeup), idle=True)

    def _hand_back(self, now: float) -> None:
        for engine in self.engines:
            step = self._steps.get(id(engine))
            if step is not None and step.end <= now:
                del self._steps[id(engine)]
                for seq in step.finished:
                    seq.wake()


def _soonest_finish(engine: SimEngine, end: float) -> float:
    """No call of `engine`, simulated up to `end`, finishes before the returned time: each needs
    one iteration per output token left, and no iteration is shorter than a one-token one."""
    batcher = engine._batcher
    assert batcher is not None, "only started engines step"
    waiting = [e[4] for e in engine._inbox if isinstance(e[4], SimSequence)]  # arrived, not yet drained
    left = min((s.num_output_tokens - s.num_generated for s in [*batcher.seqs.values(), *waiting]), default=1)
    return end + max(left, 1) * engine.cost_model.iteration_time(0, 1, 0, 0)
