"""`real_time()`: let a virtual clock run at wall speed while real work (a subprocess) runs.

Under the simulator the runtime runs on trio's `MockClock(autojump_threshold=0)`: virtual time
stands still while tasks run and jumps to the next deadline whenever every task waits. A real
command waited on in a worker thread looks like waiting, so the clock would jump (to the next
engine step, arrival or pin expiry) and the tool would appear to take an arbitrary virtual time.
Inside `real_time()` the clock instead advances at rate 1 and never jumps, so a tool takes its
real duration in virtual time, the engine keeps stepping meanwhile, and the tool-latency
predictor sees true durations. Nested and concurrent sections share one switch; the clock goes
back to its virtual settings when the last one ends.

Alternative considered: freezing the clock during tools (rate 0, no jumps), which makes tools
take no time at all and would teach the pinning predictor that tools are instantaneous.
Outside trio or without a MockClock this does nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary


@dataclass(slots=True)
class _Saved:
    rate: float
    autojump_threshold: float
    num_sections: int = 0


_saved: WeakKeyDictionary[Any, _Saved] = WeakKeyDictionary()


def _mock_clock() -> Any:
    import trio
    from trio.testing import MockClock

    try:
        clock = trio.lowlevel.current_clock()
    except RuntimeError:  # not inside trio.run
        return None
    return clock if isinstance(clock, MockClock) else None


@contextmanager
def real_time() -> Iterator[None]:
    """Within the block, a virtual (MockClock) clock advances at wall speed and does not jump."""
    clock = _mock_clock()
    if clock is None:
        yield
        return
    saved = _saved.setdefault(clock, _Saved(clock.rate, clock.autojump_threshold))
    if saved.num_sections == 0:
        saved.rate, saved.autojump_threshold = clock.rate, clock.autojump_threshold
        clock.autojump_threshold = float("inf")
        clock.rate = 1.0
    saved.num_sections += 1
    try:
        yield
    finally:
        saved.num_sections -= 1
        if saved.num_sections == 0:
            clock.rate = saved.rate
            clock.autojump_threshold = saved.autojump_threshold


def event_loop_clock() -> Callable[[], float]:
    """The running event loop's clock function (what `anyio.current_time` returns), looked up
    once: `anyio.current_time()` detects the backend on every call, which the runtime's and the
    simulator's per-call paths cannot afford. On trio it is the clock's own `current_time` (the
    value `trio.current_time()` returns, without its three wrapping frames: ~10 reads per call)."""
    import sniffio

    if sniffio.current_async_library() == "trio":
        import trio

        return trio.lowlevel.current_clock().current_time
    import asyncio

    return asyncio.get_running_loop().time
