"""`EngineHost`: the body of a Ray actor that serves one engine on the actor's event loop.

Ray runs an async actor's methods as tasks on one asyncio loop, so the engine lives there as it
would in a runtime: `start` builds it with `create_engine` and starts it inside a task group that
stays open until `stop`; `generate`, `abort`, `release_program` and `hint_tool` are the engine
protocol's own calls, one Ray method each.
"""

from __future__ import annotations

import asyncio
from typing import Any

import anyio

from agentrt.engine_adapters.base import Engine, GenerationRequest, GenerationResult
from agentrt.exceptions import EngineError


class EngineHost:
    """Hosts `create_engine(kind, **options)`. Raises EngineError for calls before `start`."""

    def __init__(self, kind: str, options: dict[str, Any]) -> None:
        self.kind, self.options = kind, options
        self._engine: Engine | None = None
        self._serving: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def describe(self) -> int:
        """The engine's KV cache size in tokens (what the router balances); builds the engine."""
        return int(getattr(self._build(), "kv_capacity_tokens", 1 << 20))

    async def start(self, policy: Any) -> None:
        engine = self._build()
        started = asyncio.get_running_loop().create_future()
        self._serving = asyncio.ensure_future(self._serve(engine, policy, started))
        await started

    async def _serve(self, engine: Engine, policy: Any, started: asyncio.Future[None]) -> None:
        try:
            async with anyio.create_task_group() as tg:
                await engine.start(policy, tg)
                started.set_result(None)
                await self._stop.wait()
                await engine.stop()
                tg.cancel_scope.cancel()
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise

    async def stop(self) -> None:
        self._stop.set()
        if self._serving is not None:
            await self._serving

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        return await self._started().generate(request)

    async def abort(self, call_id: str) -> None:
        await self._started().abort(call_id)

    async def release_program(self, program_id: str) -> None:
        await self._started().release_program(program_id)

    async def hint_tool(self, program_id: str, tool_name: str, gap_samples: tuple[float, ...]) -> None:
        await self._started().hint_tool(program_id, tool_name, gap_samples)

    async def statistics(self) -> Any:
        return self._engine.statistics() if self._engine is not None else None

    def _build(self) -> Engine:
        if self._engine is None:
            from agentrt.engine_adapters.factory import create_engine

            self._engine = create_engine(self.kind, **self.options)
        return self._engine

    def _started(self) -> Engine:
        if self._engine is None or self._serving is None:
            raise EngineError("this Ray engine replica is not started; `await engine.start(policy, tg)` first")
        return self._engine
