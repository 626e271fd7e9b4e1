"""`EngineRunner`: what the server needs of an engine it runs (EngineThread: on a thread of its
own; LocalEngine: on the server's loop). Each subclass says how a coroutine reaches the engine
(`_on_engine`); the calls, the death and its message are shared here."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from agentrt.engine_adapters.base import Engine, GenerationRequest, GenerationResult
from agentrt.exceptions import EngineError
from agentrt.serve.health import describe

if TYPE_CHECKING:
    from agentrt.runtime.scheduling.policies.config import PolicyConfig

T = TypeVar("T")


class EngineRunner(Engine):
    """An engine run for the server. Raises EngineError from every call once it has ended."""

    _engine: Engine | None
    _death: BaseException | None
    _make_engine: Callable[[], Engine]

    @property
    def alive(self) -> bool:
        """Started, and not ended (stopped or crashed)."""
        raise NotImplementedError

    async def _on_engine(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` where the engine runs and await its outcome; cancelling the caller cancels it."""
        raise NotImplementedError

    async def wait_ended(self) -> str | None:
        """Wait until the engine ends; returns `death`."""
        raise NotImplementedError

    async def read(self, fn: Callable[[Engine], T]) -> T:
        """`fn(engine)`, where the engine runs (e.g. a statistics snapshot)."""
        raise NotImplementedError

    async def _serve(self, policy: PolicyConfig, stop: asyncio.Event, started: Callable[[], None]) -> None:
        """Where the engine runs: build and start it, call `started`, run until `stop` is set,
        then stop it. Raises what the engine raised."""
        async with anyio.create_task_group() as tg:
            self._engine = self._make_engine()
            await self._engine.start(policy, tg)
            started()
            await stop.wait()
            await self._engine.stop()
            tg.cancel_scope.cancel()

    async def _guard(self, coro: Coroutine[Any, Any, T]) -> T:
        """Where the engine runs: a call cancelled there (the engine is ending) fails with
        EngineError, so that its caller does not take the cancellation for its own."""
        try:
            return await coro
        except asyncio.CancelledError:
            raise self._dead() from None

    @property
    def death(self) -> str | None:
        """Why the engine died (`Type: message` of what its loop raised); None while it runs or
        once it was stopped."""
        return None if self._death is None else describe(self._death)

    def _dead(self) -> EngineError:
        death = self._death
        while isinstance(death, BaseExceptionGroup) and len(death.exceptions) == 1:  # from the task group
            death = death.exceptions[0]
        cause = f": {type(death).__name__}: {death}" if death is not None else ""
        return EngineError(f"the simulated engine is not running{cause}; restart `agentrt serve`")

    def _inner(self) -> Engine:
        if self._engine is None:
            raise self._dead()
        return self._engine

    async def generate_timed(self, request: GenerationRequest) -> tuple[float, GenerationResult]:
        """Run one call; returns the engine clock when the engine received it, and its result.
        Raises what the engine's `generate` raises."""
        return await self._on_engine(self._timed(request))

    async def _timed(self, request: GenerationRequest) -> tuple[float, GenerationResult]:
        engine = self._inner()
        arrival = engine.now()
        return arrival, await engine.generate(request)

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        return (await self.generate_timed(request))[1]

    async def abort(self, call_id: str) -> None:
        await self._on_engine(self._inner().abort(call_id))

    async def release_program(self, program_id: str) -> None:
        await self._on_engine(self._inner().release_program(program_id))

    async def hint_tool(self, program_id: str, tool_name: str, gap_samples: tuple[float, ...]) -> None:
        await self._on_engine(self._inner().hint_tool(program_id, tool_name, gap_samples))
