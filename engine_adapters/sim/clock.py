"""What the engine loop may assume about the clock: virtual (trio `MockClock` that only jumps) or real.

On a virtual clock two facts make the simulation exact, deterministic and fast:
- `settle()`: before deciding anything at an instant, let every other task that is runnable at
  that instant run until it blocks (`trio.testing.wait_all_tasks_blocked`). All calls arriving at
  the instant are then in the engine's inbox, whatever order trio happened to run their tasks in
  (trio shuffles each batch of runnable tasks), and the engine sorts them canonically.
- `horizon(now)`: once everything else is blocked, nothing can happen before the next deadline
  of another task (a tool's sleep, a timeout). The engine may run iterations back to back up to
  that time without yielding, and sleep once for all of them; a finished call ends the run-ahead,
  since waking its caller is an event. This removes the run loop's cost from most iterations.
On a real clock (or asyncio) neither holds: `settle` only yields and `horizon` is `now`, so the
engine sleeps for every iteration.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
import trio
from trio.testing import MockClock

_LOOPS = trio.lowlevel.RunVar("agentrt_sim_loops", default=0)  # loops that `settle` in this trio run


def is_virtual() -> bool:
    """True on trio with a `MockClock` that only moves by autojumps (rate 0, threshold 0)."""
    try:
        clock = trio.lowlevel.current_clock()
    except RuntimeError:  # not running on trio
        return False
    return isinstance(clock, MockClock) and clock.rate == 0 and clock.autojump_threshold == 0


async def settle(virtual: bool) -> None:
    """Return once every other task runnable at this instant has blocked (virtual clock), or
    after one checkpoint (real clock)."""
    if virtual:
        await trio.testing.wait_all_tasks_blocked()
    else:
        await anyio.lowlevel.checkpoint()


async def sleep_until(virtual: bool, t: float, horizon: float) -> None:
    """Sleep until `t`. On a virtual clock, when no other deadline comes before `t` (`t < horizon`)
    and this is the only loop that settles, the clock jumps to `t` at once: the instant the
    autojump would reach, the same float (`jump` adds `t - now` as the autojump does), without a
    deadline, a cancellation and a task switch. With two loops it sleeps: trio wakes every
    `wait_all_tasks_blocked` at once, and another engine woken with this one may have yet to act
    at this instant."""
    if virtual and t < horizon and is_virtual() and _LOOPS.get() == 1 and not _others_settling():
        clock = trio.lowlevel.current_clock()
        clock.jump(t - clock.current_time())  # type: ignore[attr-defined]
    elif virtual:  # `anyio.sleep_until(t)` on trio, without anyio's three wrapping frames
        now = trio.current_time()
        await trio.sleep_until(now + (t - now))  # the deadline anyio computes, to the bit
    else:
        await anyio.sleep_until(t)


@contextmanager
def loop_running(virtual: bool) -> Iterator[None]:
    """Count an engine loop that settles, for `sleep_until` (on a virtual clock only)."""
    if not virtual:
        yield
        return
    _LOOPS.set(_LOOPS.get() + 1)
    try:
        yield
    finally:
        _LOOPS.set(_LOOPS.get() - 1)


def _others_settling() -> bool:
    """Whether a task outside the engines waits in `wait_all_tasks_blocked` (trio keeps no public
    count; if the run loop's table is not where trio 0.26-0.35 keeps it, assume one does)."""
    runner = getattr(trio._core._run.GLOBAL_RUN_CONTEXT, "runner", None)
    waiting = getattr(runner, "waiting_for_idle", None)
    return waiting is None or bool(waiting)


def horizon(virtual: bool, now: float) -> float:
    """The earliest time another task can act (call after `settle`); `now` on a real clock."""
    if not virtual:
        return now
    ahead = trio.lowlevel.current_statistics().seconds_to_next_deadline
    return now + ahead if math.isfinite(ahead) else math.inf
