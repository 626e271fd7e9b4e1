"""`run`: start an async main function on the right event loop.

The simulated engine runs on virtual time: trio with `MockClock(autojump_threshold=0)`, which jumps
the clock whenever every task is blocked, so an hour of simulated serving takes seconds (and reports
a deadlock when there is no deadline to jump to: `watchdog.py`). Real
engines (vLLM) need asyncio and the wall clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from agentrt.tools.clock import event_loop_clock

T = TypeVar("T")


def run(main: Callable[..., Awaitable[T]], *args: Any, virtual_time: bool = True) -> T:
    """Run `main(*args)` to completion and return its result.

    virtual_time=True: trio with a virtual clock (for the simulator and the recording engine).
    virtual_time=False: asyncio on the wall clock (for vLLM)."""
    if virtual_time:
        from agentrt.runtime.watchdog import virtual_clock

        return anyio.run(main, *args, backend="trio", backend_options={"clock": virtual_clock()})
    return anyio.run(main, *args, backend="asyncio")


def clock() -> Callable[[], float]:
    """The running event loop's clock function, looked up once (`tools.clock.event_loop_clock`)."""
    return event_loop_clock()
