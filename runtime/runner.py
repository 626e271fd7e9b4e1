"""`run`: start an async main function on the right event loop.

The simulated engine runs on virtual time: trio with `MockClock(autojump_threshold=0)`, which jumps
the clock whenever every task is blocked, so an hour of simulated serving takes seconds (and reports
a deadlock when there is no deadline to jump to: `watchdog.py`). Real
engines (vLLM) need asyncio and the wall clock.

On virtual time the cyclic garbage collector runs less often (`fewer_collections`): every timed
sleep of a tool or of the engine ends in a caught `Cancelled` whose traceback is a reference
cycle, so the default thresholds (700 new objects) collect ~700 times per 10,000 simulated calls
and cost a tenth of the run (benchmarks/README.md). Alternatives measured: `gc.freeze()` after
the imports (no gain: the cost is the young garbage, not the old heap), `gc.disable()` (no
faster than a 50,000 threshold, and the cycles would never be freed).
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import anyio

from agentrt.tools.clock import event_loop_clock

T = TypeVar("T")

SIM_GC_THRESHOLD = (50_000, 20, 100)  # gen0 allocations, gen1 and gen2 collection periods


def run(main: Callable[..., Awaitable[T]], *args: Any, virtual_time: bool = True) -> T:
    """Run `main(*args)` to completion and return its result.

    virtual_time=True: trio with a virtual clock (for the simulator and the recording engine).
    virtual_time=False: asyncio on the wall clock (for vLLM)."""
    if virtual_time:
        from agentrt.runtime.watchdog import virtual_clock

        with fewer_collections():
            return anyio.run(main, *args, backend="trio", backend_options={"clock": virtual_clock()})
    return anyio.run(main, *args, backend="asyncio")


@contextmanager
def fewer_collections(threshold: tuple[int, int, int] = SIM_GC_THRESHOLD) -> Iterator[None]:
    """Within the block, the garbage collector's thresholds are `threshold` (restored after)."""
    saved = gc.get_threshold()
    gc.set_threshold(*threshold)
    try:
        yield
    finally:
        gc.set_threshold(*saved)


def clock() -> Callable[[], float]:
    """The running event loop's clock function, looked up once (`tools.clock.event_loop_clock`)."""
    return event_loop_clock()
