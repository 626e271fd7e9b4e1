"""ClientLatency: a call reaches the wrapped engine `request_s` after it is issued and returns
`response_s` after it ends; everything else is the wrapped engine's."""

from __future__ import annotations

import anyio
import pytest
import trio
from trio.testing import MockClock

from agentrt.engine_adapters.base import GenerationRequest
from agentrt.engine_adapters.latency import ClientLatency
from agentrt.engine_adapters.sim import SimEngine
from agentrt.exceptions import ConfigError
from agentrt.programs.tokens import Tokens

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    return ("trio", {"clock": MockClock(autojump_threshold=0)})


def request(call_id: str) -> GenerationRequest:
    return GenerationRequest(call_id=call_id, program_id="p", prompt=Tokens.synthetic(500, key=call_id), max_tokens=5,
                             arrival=0.0, ignore_eos=True)


async def test_a_call_arrives_late_and_returns_late_by_the_latencies() -> None:
    bare, wrapped = SimEngine(), ClientLatency(SimEngine(), request_s=0.002, response_s=0.004)
    times = []
    for engine in (bare, wrapped):
        async with anyio.create_task_group() as tg:
            await engine.start("fcfs", tg)
            start = trio.current_time()
            result = await engine.generate(request("c"))
            times.append((start, result.first_scheduled, trio.current_time()))
            await engine.stop()
    (s0, first0, end0), (s1, first1, end1) = times
    assert first1 - s1 == pytest.approx(first0 - s0 + 0.002, abs=1e-12)  # reached the scheduler 2 ms later
    assert end1 - s1 == pytest.approx(end0 - s0 + 0.006, abs=1e-12)  # and came back 4 ms after it ended
    assert wrapped.kv_capacity_tokens == bare.kv_capacity_tokens and wrapped.name == bare.name
    assert wrapped.statistics().num_iterations == bare.statistics().num_iterations


def test_a_negative_latency_is_refused() -> None:
    with pytest.raises(ConfigError, match="must be >= 0"):
        ClientLatency(SimEngine(), request_s=-0.001, response_s=0.0)
