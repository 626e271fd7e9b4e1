"""`EngineThread` and `LocalEngine`: the engine runs on its own thread (or the caller's loop); calls,
control and snapshots reach it; a stopped or crashed engine fails its calls with EngineError
instead of leaving them waiting."""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from agentrt.engine_adapters.base import GenerationRequest, GenerationResult
from agentrt.engine_adapters.testing import RecordingEngine
from agentrt.exceptions import EngineError
from agentrt.programs.tokens import Tokens
from agentrt.runtime.scheduling.policies import policy_config
from agentrt.serve.engine_thread import EngineThread
from agentrt.serve.local_engine import LocalEngine

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class ThreadRecordingEngine(RecordingEngine):
    """Records the thread each call ran on; a call whose id starts with "crash" crashes the loop."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threads: set[int] = set()
        self.crash = anyio.Event()

    async def start(self, policy: Any, task_group: Any) -> None:
        await super().start(policy, task_group)
        task_group.start_soon(self._crash_on_demand)

    async def _crash_on_demand(self) -> None:
        await self.crash.wait()
        raise RuntimeError("the engine loop broke")

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        self.threads.add(threading.get_ident())
        if request.call_id.startswith("crash"):
            self.crash.set()
        return await super().generate(request)


def request(call_id: str) -> GenerationRequest:
    return GenerationRequest(call_id=call_id, program_id="p", prompt=Tokens.synthetic(8, key=call_id),
                             max_tokens=3, arrival=0.0)


RUNNERS = [pytest.param(EngineThread, id="thread"), pytest.param(LocalEngine, id="local")]


@pytest.mark.parametrize("runner", RUNNERS)
async def test_calls_and_control_reach_the_engine(runner: Any) -> None:
    inner = ThreadRecordingEngine()
    engine = runner(lambda: inner)
    async with anyio.create_task_group() as tg:
        await engine.start(policy_config("fcfs"), tg)
        assert engine.alive
        before = engine.now()
        results = []
        async with anyio.create_task_group() as calls:
            for i in range(5):
                calls.start_soon(lambda i=i: _append(results, engine.generate_timed(request(f"c{i}"))))
        await engine.abort("c0")
        await engine.release_program("p")
        await engine.hint_tool("p", "bash", (1.0,))
        stats = await engine.read(lambda e: e.statistics())
        await engine.stop()
    assert sorted(inner.finished) == [f"c{i}" for i in range(5)]
    assert all(before <= arrival <= result.finish <= engine.now() for arrival, result in results)
    assert [r.num_output_tokens for _, r in results] == [3] * 5
    on_caller = threading.get_ident() in inner.threads
    assert inner.threads and on_caller == (runner is LocalEngine)
    assert (inner.aborted, inner.released, inner.tool_hints) == (["c0"], ["p"], [("p", "bash")])
    assert stats == {"requests": 5, "aborted": 1}
    assert not engine.alive and not inner.running


async def _append(out: list[Any], coro: Any) -> None:
    out.append(await coro)


@pytest.mark.parametrize("runner", RUNNERS)
async def test_a_crashed_engine_fails_calls_in_flight_and_later_ones(runner: Any) -> None:
    inner = ThreadRecordingEngine(latency=3600.0)
    engine = runner(lambda: inner)
    async with anyio.create_task_group() as tg:
        await engine.start(policy_config("fcfs"), tg)
        with pytest.raises(EngineError, match="not running: RuntimeError: the engine loop broke"):
            await engine.generate(request("crash-1"))
        assert not engine.alive
        with pytest.raises(EngineError, match="restart `agentrt serve`"):
            await engine.generate(request("c2"))
        with pytest.raises(EngineError):
            await engine.abort("c2")
        await engine.stop()


async def test_stop_after_a_crash_waits_for_the_thread_to_end_while_its_loop_is_closing() -> None:
    """The crash's window where the thread has closed its loop but not yet said it ended: `stop`
    must wait for the end, not hand the closed loop a callback (RuntimeError: 'Event loop is
    closed', seen once in a full run). The thread is held in that window by its `_ended` signal."""
    import asyncio

    inner = ThreadRecordingEngine(latency=3600.0)
    engine = EngineThread(lambda: inner)
    in_window, leave_window = threading.Event(), threading.Event()
    set_ended = engine._ended.set_result

    def held_set_result(result: None) -> None:
        in_window.set()
        leave_window.wait()
        set_ended(result)

    engine._ended.set_result = held_set_result  # type: ignore[method-assign]
    async with anyio.create_task_group() as tg:
        await engine.start(policy_config("fcfs"), tg)
        with pytest.raises(EngineError, match="the engine loop broke"):
            await engine.generate(request("crash-1"))
        await anyio.to_thread.run_sync(in_window.wait)
        assert engine._loop.is_closed() and not engine._ended.done()
        stopping = asyncio.ensure_future(engine.stop())
        await asyncio.sleep(0)  # one step: `stop` has checked the engine and awaits its end
        assert not stopping.done(), stopping.exception()
        leave_window.set()
        await stopping


@pytest.mark.parametrize("runner", RUNNERS)
async def test_stop_fails_the_calls_in_flight(runner: Any) -> None:
    inner = ThreadRecordingEngine(latency=3600.0)
    engine = runner(lambda: inner)
    outcome: list[BaseException] = []

    async def call() -> None:
        try:
            await engine.generate(request("long"))
        except EngineError as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as tg:
        await engine.start(policy_config("fcfs"), tg)
        tg.start_soon(call)
        while not inner.requests:  # the call reached the engine
            await anyio.sleep(0.001)
        await engine.stop()
    assert len(outcome) == 1 and inner.finished == []
