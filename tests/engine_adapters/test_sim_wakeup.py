"""An idle simulated engine wakes for the scheduler's timed decisions (`next_wakeup()`), not only
for arrivals: here the residency idle release, which used to wait for the next arrival."""

from __future__ import annotations

import anyio
import pytest
from trio.testing import MockClock

from agentrt.engine_adapters.base import GenerationResult
from agentrt.engine_adapters.sim import SimEngine
from agentrt.runtime.scheduling.policies import PolicyConfig
from tests.engine_adapters.test_sim_memory import request, serve

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    return ("trio", {"clock": MockClock(autojump_threshold=0)})


async def test_an_idle_resident_program_is_released_while_nothing_runs() -> None:
    """A (600 tokens) is resident and idle in a 300 s tool without a pin; B (400 tokens, t=1 s)
    does not fit the working set (half of 100 blocks of 16) beside A, so it waits until A has
    been idle for `residency_idle_s` = 10 s: about 10 s after A's first call finished (the
    fixed limit alone: 16x A's re-prefill time would let it go before B arrives)."""
    engine = SimEngine(num_gpu_blocks=100, block_size=16)
    policy = PolicyConfig(name="agentrt", residency_fraction=0.5, residency_idle_s=10.0, residency_idle_reprefill=None)
    out: dict[str, GenerationResult] = {}

    async def program_a() -> None:
        out["a1"] = await engine.generate(request("a1", 600, 8, program_id="a"))
        await anyio.sleep(300.0)
        out["a2"] = await engine.generate(request("a2", 700, 8, program_id="a"))

    async def program_b() -> None:
        await anyio.sleep_until(1.0)
        out["b"] = await engine.generate(request("b", 400, 8, program_id="b"))

    async def body() -> None:
        with anyio.fail_after(1000.0):  # virtual seconds: B waited for good (the old idle loop)
            async with anyio.create_task_group() as tg:
                tg.start_soon(program_a)
                tg.start_soon(program_b)

    await serve(engine, policy, body)
    assert out["a1"].pin_ttl == 0  # no gap observed yet: nothing to pin for
    idle_from = out["a1"].finish
    assert idle_from < 1.0
    assert out["b"].first_scheduled == pytest.approx(idle_from + 10.0, abs=1e-6)
    assert out["b"].finish < out["a2"].first_scheduled
