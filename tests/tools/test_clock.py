"""`event_loop_clock`: the clock function the runtime and the simulator read on every call must
give what the event loop's own `current_time` gives, to the bit (simulated results depend on it)."""

from __future__ import annotations

import asyncio

import trio
import trio.testing

from agentrt.tools.clock import event_loop_clock, real_time


def test_on_trio_it_reads_the_same_time_as_trio_current_time_through_jumps_and_real_time() -> None:
    clock = trio.testing.MockClock(autojump_threshold=0)
    seen: list[tuple[float, float]] = []

    async def main() -> None:
        now = event_loop_clock()
        seen.append((now(), trio.current_time()))
        await trio.sleep(1.25)  # an autojump
        seen.append((now(), trio.current_time()))
        clock.jump(1e-9)
        seen.append((now(), trio.current_time()))
        with real_time():  # the clock runs at wall speed: both reads see it move
            a = now()
            b = trio.current_time()
            assert b >= a

    trio.run(main, clock=clock)
    assert [a for a, _ in seen] == [b for _, b in seen]
    assert seen[1][0] == seen[0][0] + 1.25


def test_on_asyncio_it_is_the_loop_time() -> None:
    async def main() -> tuple[float, float]:
        now = event_loop_clock()
        loop_time = asyncio.get_running_loop().time()
        return now(), loop_time

    read, loop_time = asyncio.run(main())
    assert read >= loop_time
