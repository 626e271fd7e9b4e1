"""An asyncio event loop whose clock runs `scale` times faster than the wall clock.

The simulator server runs the simulated GPU on such a loop (its own thread, engine_thread.py), so with
`--time-scale K` an iteration the cost model prices at 20 ms takes 20/K ms of wall time, and every
time the server reports (queue waits, tool gaps, JCTs, pin TTLs) is in simulated seconds: the
policies' constants (quanta, TTLs, idle costs) then mean what they mean in `agentrt bench`.

Two methods make it: `time()` returns the scaled clock, and the selector divides every wait by
the scale (the loop computes waits as differences of `time()`). Alternatives considered: scaling
the cost model instead (the policies' constants in seconds would then be off by K), and trio's
`MockClock(rate=K)` (exact, but uvicorn runs only on asyncio).
"""

from __future__ import annotations

import asyncio
import selectors
import time
from typing import Any


class _ScaledSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    def __init__(self, scale: float) -> None:
        super().__init__()
        self._scale = scale

    def select(self, timeout: float | None = None) -> Any:
        return super().select(None if timeout is None else max(0.0, timeout) / self._scale)


class ScaledEventLoop(asyncio.SelectorEventLoop):
    """`time()` advances `scale` simulated seconds per wall second, from 0 at creation.

    Raises ValueError if scale is not positive."""

    def __init__(self, scale: float) -> None:
        if not scale > 0:
            raise ValueError(f"time scale must be > 0, got {scale}")
        super().__init__(_ScaledSelector(scale))
        self.scale = scale
        self._origin = time.monotonic()

    def time(self) -> float:
        return (time.monotonic() - self._origin) * self.scale


def new_event_loop(scale: float = 1.0) -> asyncio.AbstractEventLoop:
    """A loop on the wall clock (scale 1) or a scaled one."""
    return asyncio.new_event_loop() if scale == 1.0 else ScaledEventLoop(scale)
