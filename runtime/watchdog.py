"""Deadlock detection on virtual time.

Under the simulator the runtime runs on trio with a `MockClock(autojump_threshold=0)`: whenever
every task waits, the clock jumps to the next deadline. When every task waits and there is no
deadline at all (no sleep, no timeout, no engine step, no tool running on the wall clock), nothing
can ever happen again: that is a deadlock, and trio's autojumper would spin on it at 100% CPU
forever. `virtual_clock()` is that mock clock with one change: at such an instant it wakes the
runtime's watchdog instead, which fails each program that is stuck with a `DeadlockError` naming
what it waits on. Programs blocked only on a stuck sub-program end when the sub-program fails.

Why at the autojump and not a polling task: a task that wakes up periodically is itself a
deadline, so the clock would never be idle; `wait_all_tasks_blocked` with a cushion would delay
every autojump by the cushion. The autojump is the one place where "nothing can happen" is known.
A tool running in a worker thread holds the clock in `real_time()` (no autojump), so it is never
mistaken for a deadlock; a program that waits on a thread of its own without `real_time()` is.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import trio
from trio.testing import MockClock

from agentrt.exceptions import AgentRTError, DeadlockError

if TYPE_CHECKING:
    from agentrt.runtime.instance import ProgramInstance
    from agentrt.runtime.runtime import Runtime


class StallSignal:
    """Installed on a MockClock: at an autojump with no deadline to jump to, wakes `wait()`ers
    instead of doing nothing (trio would call the autojump again at once, forever)."""

    def __init__(self, clock: MockClock) -> None:
        self._event: trio.Event | None = None
        self.num_watchers = 0  # runtimes watching this clock (several may run on one clock)
        self._clock = clock
        # MockClock is final; the run loop calls `clock._autojump()`, so an instance attribute
        # takes its place.
        clock._autojump = self._autojump  # type: ignore[method-assign]
        clock._agentrt_stalls = self  # type: ignore[attr-defined]

    async def wait(self) -> None:
        """Return at the next instant when every task waits and no deadline is pending."""
        if self._event is None:
            self._event = trio.Event()
        await self._event.wait()

    def _autojump(self) -> None:
        jump = trio.lowlevel.current_statistics().seconds_to_next_deadline  # read once: it builds a record
        if self._event is not None and math.isinf(jump):
            self._event.set()
            self._event = None
        elif 0 < jump < math.inf:  # what `MockClock._autojump` does, without reading it again
            self._clock.jump(jump)


def virtual_clock() -> MockClock:
    """A `MockClock(autojump_threshold=0)` that reports deadlocks to the runtime's watchdog."""
    clock = MockClock(autojump_threshold=0)
    StallSignal(clock)
    return clock


def current_stall_signal() -> StallSignal | None:
    try:
        clock = trio.lowlevel.current_clock()
    except RuntimeError:  # not on trio
        return None
    signal: StallSignal | None = getattr(clock, "_agentrt_stalls", None)
    return signal


async def watch_for_deadlocks(runtime: Runtime, stalls: StallSignal) -> None:
    """Fail every stuck program of `runtime` at each deadlock; raise AgentRTError when nothing
    but code outside any program is stuck (the runtime cannot end that wait). With several
    runtimes on one clock each fails its own stuck programs, and none raises."""
    stalls.num_watchers += 1
    try:
        while True:
            await stalls.wait()
            _fail_stuck(runtime, alone=stalls.num_watchers == 1)
    finally:
        stalls.num_watchers -= 1


def _fail_stuck(runtime: Runtime, *, alone: bool) -> None:
    stuck = [p for p in runtime.running_programs() if not _waits_on_child(p)]
    if not stuck and alone:
        raise AgentRTError("deadlock on virtual time: every task waits with no deadline and no program is "
                           "running; the code around the runtime awaits something nothing will set")
    for instance in stuck:
        instance.fail(DeadlockError(instance.program_id, instance.record.name, waiting_on(instance)))


def _waits_on_child(instance: ProgramInstance) -> bool:
    return any(c.child_program_id is not None and not c.status.finished for c in instance.record.calls.values())


def waiting_on(instance: ProgramInstance) -> str:
    """What a blocked program waits for, in words."""
    pending = [c for c in instance.record.calls.values() if not c.status.finished]
    if not pending:
        return "nothing (no LLM, tool or sub-program call in flight)"
    names = ", ".join(f"{c.kind.value} call {c.name} ({c.call_id})" for c in pending[:3])
    return names + (f" and {len(pending) - 3} more" if len(pending) > 3 else "") + ", none of which can finish"
