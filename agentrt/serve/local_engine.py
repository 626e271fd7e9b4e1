"""`LocalEngine`: the engine on the server's own event loop, behind `EngineThread`'s interface.

`agentrt serve --engine sim` uses it at `--time-scale 1`, where the engine needs no clock of its own. Why: the
hop to the engine's thread cost more than the rest of the call. Each call woke the other loop
through its self-pipe (both ways), and every such write handed the GIL to the other thread, so a
call waited for whatever that thread then ran; one interpreter runs one thread at a time anyway.
Side by side at 1,000 programs (benchmarks/README.md, "Serve overhead"), server-side p50 2.0-2.2
ms with the thread, 0.8-1.7 ms on one loop, with less CPU per call in all.

What the thread gave, kept here: a call in flight fails with EngineError when the engine dies
or stops, instead of waiting forever (each call runs as a task of its own, cancelled then); a
crash of the engine's loop ends the engine, not the server (/health says why). What it gave
that this does not: a scaled clock (`--time-scale K`, K != 1, keeps the thread: the server's
loop stays on the wall clock for its timeouts), and an engine whose wake-ups never wait behind a
request's handling (measured: the engine's times for its calls equal within 0.3% either way).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from agentrt.engine_adapters.base import Engine
from agentrt.exceptions import EngineError
from agentrt.serve.engine_runner import EngineRunner

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from agentrt.runtime.scheduling.policies.config import PolicyConfig

T = TypeVar("T")


class LocalEngine(EngineRunner):
    """The engine `make_engine()` builds, run on the caller's loop in a task group of its own.

    Raises EngineError from every call once the engine has ended (stopped or crashed)."""

    name = "engine-local"

    def __init__(self, make_engine: Callable[[], Engine]) -> None:
        self._make_engine = make_engine
        self._engine: Engine | None = None
        self._stop = asyncio.Event()
        self._ended = asyncio.Event()
        self._death: BaseException | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self._started = False
        self._running = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def alive(self) -> bool:
        """Started, and not ended (stopped or crashed)."""
        return self._running

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self, policy: PolicyConfig, task_group: TaskGroup) -> None:
        """Start the engine in a task of `task_group`. Raises what the engine's `start` raised, or
        EngineError if already started."""
        if self._started:
            raise EngineError("this LocalEngine was already started; create a new one")
        self._started = True
        self._loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        task_group.start_soon(self._run, policy, started)
        await started

    async def stop(self) -> None:
        """Stop the engine (its calls in flight fail with EngineError)."""
        if self._started and not self._ended.is_set():
            self._stop.set()
            await self._ended.wait()

    async def _run(self, policy: PolicyConfig, started: asyncio.Future[None]) -> None:
        self._running = True
        try:
            await self._serve(policy, self._stop, lambda: started.set_result(None))
        except Exception as exc:  # recorded: every later call says the engine died, and why
            self._death = exc
            if not started.done():
                started.set_exception(exc)
        finally:
            self._running = False
            for task in list(self._pending):
                task.cancel()
            self._ended.set()

    # -- calls ------------------------------------------------------------------------------------
    async def _on_engine(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` as a task the engine's end cancels; cancelling the caller cancels it."""
        if not self._running:
            coro.close()
            raise self._dead()
        task = asyncio.get_running_loop().create_task(self._guard(coro))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.cancel()
            raise

    async def wait_ended(self) -> str | None:
        """Wait until the engine ends; returns `death`."""
        await self._ended.wait()
        return self.death

    async def read(self, fn: Callable[[Engine], T]) -> T:
        """`fn(engine)` (e.g. a statistics snapshot)."""
        if not self._running:
            raise self._dead()
        return fn(self._inner())

    def now(self) -> float:
        """The engine's clock: its loop's (wall seconds, time scale 1)."""
        return self._loop.time() if self._loop is not None else time.monotonic()
