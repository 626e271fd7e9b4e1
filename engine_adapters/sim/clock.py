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

import anyio
import trio
from trio.testing import MockClock


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


def horizon(virtual: bool, now: float) -> float:
    """The earliest time another task can act (call after `settle`); `now` on a real clock."""
    if not virtual:
        return now
    ahead = trio.lowlevel.current_statistics().seconds_to_next_deadline
    return now + ahead if math.isfinite(ahead) else math.inf
