"""The simulator server in the test's own process: its app with its lifespan run (the engine
started and stopped), reached through httpx's ASGI transport (no socket, no subprocess)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx

from agentrt.engine_adapters.base import Engine, GenerationRequest, GenerationResult
from agentrt.engine_adapters.sim import SimEngine
from agentrt.serve.app import ServeOptions, SimServer
from agentrt.serve.local_engine import LocalEngine

MODEL = "sim-llama"


def sim_server(make_engine: Callable[[], Engine] = lambda: SimEngine(num_gpu_blocks=4096), **options: Any) -> SimServer:
    """A server of `make_engine()` with these ServeOptions, the engine on the server's loop as
    `agentrt serve` runs it at time scale 1 (tests/serve/test_engine_thread.py: the thread too)."""
    return SimServer(LocalEngine(make_engine), ServeOptions(model_names=[MODEL], **options))


async def used_blocks(server: SimServer) -> int:
    """The KV blocks the engine holds now."""
    return int(await server.engine.read(lambda engine: engine.statistics().num_used_blocks))


@asynccontextmanager
async def serving(server: SimServer) -> AsyncIterator[httpx.AsyncClient]:
    async with server.app.router.lifespan_context(server.app):
        transport = httpx.ASGITransport(app=server.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:
            yield client


def long_call(program: str) -> dict[str, Any]:
    """A call that takes minutes of simulated GPU time (it is cut short in the tests)."""
    return {"model": MODEL, "messages": [{"role": "user", "content": f"{program} " + "context " * 2000}],
            "max_tokens": 20_000, "ignore_eos": True}


def short_call(text: str) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], "max_tokens": 4}


async def wait_until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll a state of the server that the test observes, yielding to it in between."""
    while not await check():
        await anyio.sleep(0.01)


class DyingEngine(Engine):
    """A SimEngine whose background work raises when `kill()` is called: what a bug in the engine
    loop, or a lost device, looks like to the server. Everything else is the SimEngine's."""

    name = "dying-sim"

    def __init__(self, **options: Any) -> None:
        self.sim = SimEngine(**options)
        self._kill = anyio.Event()

    def kill(self) -> None:
        """Make the loop crash (call it through `LocalEngine.read`)."""
        self._kill.set()

    async def start(self, policy: Any, task_group: Any) -> None:
        await self.sim.start(policy, task_group)
        task_group.start_soon(self._die)

    async def _die(self) -> None:
        await self._kill.wait()
        raise RuntimeError("injected fault: the engine loop crashed")

    async def stop(self) -> None:
        await self.sim.stop()

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        return await self.sim.generate(request)

    async def abort(self, call_id: str) -> None:
        await self.sim.abort(call_id)

    async def release_program(self, program_id: str) -> None:
        await self.sim.release_program(program_id)

    def statistics(self) -> Any:
        return self.sim.statistics()
