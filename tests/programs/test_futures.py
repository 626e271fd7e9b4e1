"""`CallFuture`: awaiting parks the task until the call ends; a cancelled await leaves no trace."""

from __future__ import annotations

import anyio
import pytest

import agentrt
from agentrt.engine_adapters.testing import RecordingEngine
from agentrt.programs.records import CallStatus

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]  # a lost waiter hangs the run


@agentrt.tool
async def nap(seconds: float) -> str:
    await anyio.sleep(seconds)
    return "rested"


@agentrt.program
async def gives_up_then_waits() -> tuple[bool, str, int]:
    call = nap(0.2)
    with anyio.move_on_after(0.05) as scope:
        await call  # cancelled while parked: the call runs on in its own task
    late = await call  # parked again until the tool ends
    both = [nap(0.1), nap(0.1)]
    results = [await f for f in both]
    return scope.cancelled_caught, late, len(results)


@agentrt.program
async def two_branches_wait_on_one_call() -> list[str]:
    call = nap(0.1)
    got: list[str] = []

    async def branch() -> None:
        got.append(await call)

    async with anyio.create_task_group() as tg:
        tg.start_soon(branch)
        tg.start_soon(branch)
    return got


async def test_a_cancelled_await_leaves_the_call_running_and_awaitable(anyio_backend: object) -> None:
    async with agentrt.Runtime(engine=RecordingEngine()) as rt:
        handle = rt.submit(gives_up_then_waits)
        assert await handle.result() == (True, "rested", 2)
    calls = list(handle.record.calls.values())
    assert [c.status for c in calls] == [CallStatus.DONE] * 3


async def test_two_waiters_on_one_call_both_wake(anyio_backend: object) -> None:
    async with agentrt.Runtime(engine=RecordingEngine()) as rt:
        assert await rt.submit(two_branches_wait_on_one_call).result() == ["rested", "rested"]
