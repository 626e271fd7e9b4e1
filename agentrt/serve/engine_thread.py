"""`EngineThread`: an engine on a thread and event loop of its own, behind the `Engine` protocol.

Why: the simulated GPU paces itself on its loop's clock, sleeping until each iteration ends. On the
server's loop, every request's parsing, validation and JSON delayed the engine's wake-ups and the
engine's iterations delayed the requests; under load the simulator fell behind the wall clock and
each call's latency grew with it (p50 2.2 s at 100 concurrent programs). On its own loop the
engine wakes when its iteration ends and the server's loop only parses and answers.

The bridge: each call runs as a task on the engine's loop (`run_coroutine_threadsafe`); its
outcome comes back to the caller's loop through `call_soon_threadsafe`. Nothing else crosses:
abort, release, tool hints and statistics snapshots are coroutines run the same way, so the
engine's state is only ever touched by its own thread. `now()` is the engine loop's clock (a
`ScaledEventLoop` under `--time-scale`, readable from any thread): every time the server reports
stays in simulated seconds.

Alternatives considered: a process of its own (no shared GIL, but each call's prompt tokens, each
result and each statistics snapshot would be pickled through a pipe, and the engine factory would
have to be picklable); the engine on the server's loop (what was measured above).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from agentrt.engine_adapters.base import Engine
from agentrt.exceptions import EngineError
from agentrt.serve.clock import new_event_loop
from agentrt.serve.engine_runner import EngineRunner

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from agentrt.runtime.scheduling.policies.config import PolicyConfig

T = TypeVar("T")


class EngineThread(EngineRunner):
    """The engine `make_engine()` builds, run on a daemon thread with a loop whose clock runs
    `time_scale` times faster than the wall clock (`clock.py`). `make_engine` runs on that thread.

    Raises EngineError from every call once the engine's thread has ended (stopped or crashed)."""

    name = "engine-thread"

    def __init__(self, make_engine: Callable[[], Engine], time_scale: float = 1.0) -> None:
        self._make_engine = make_engine
        self._loop = new_event_loop(time_scale)
        self._engine: Engine | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ended: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._death: BaseException | None = None
        self._pending: set[concurrent.futures.Future[Any]] = set()  # calls sent, guarded by _lock
        self._lock = threading.Lock()
        self._running = False

    @property
    def alive(self) -> bool:
        """Started, and its thread has not ended (stopped or crashed)."""
        return self._running

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self, policy: PolicyConfig, task_group: TaskGroup) -> None:
        """Start the thread and the engine on it. Raises what the engine's `start` raised, or
        EngineError if already started."""
        if self._thread is not None:
            raise EngineError("this EngineThread was already started; create a new one")
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(policy, started), name="agentrt-engine", daemon=True)
        self._thread.start()
        await asyncio.wrap_future(started)

    async def stop(self) -> None:
        """Stop the engine (its calls in flight fail with EngineError) and end the thread."""
        if self._thread is None or self._ended.done():
            return
        with self._lock:  # the thread closes its loop only after it cleared `_running` under the lock
            stop = self._stop if self._running else None  # crashed or ending: nothing to tell
            if stop is not None:
                self._loop.call_soon_threadsafe(stop.set)
        await asyncio.wrap_future(self._ended)

    def _run(self, policy: PolicyConfig, started: concurrent.futures.Future[None]) -> None:
        asyncio.set_event_loop(self._loop)
        self._running = True
        try:
            self._loop.run_until_complete(self._main(policy, started))
        except BaseException as exc:  # recorded: every later call says the engine died, and why
            self._death = exc
            if not started.done():
                started.set_exception(exc)
        finally:
            with self._lock:
                self._running = False
                pending = list(self._pending)
            self._cancel_tasks()
            self._loop.close()
            for future in pending:  # sent as the loop ended: their task never started
                if not future.done():
                    future.set_exception(self._dead())
            self._ended.set_result(None)

    def _cancel_tasks(self) -> None:
        """Cancel what still runs on the loop: calls in flight end with EngineError (`_guard`)."""
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))

    async def _main(self, policy: PolicyConfig, started: concurrent.futures.Future[None]) -> None:
        self._stop = asyncio.Event()
        await self._serve(policy, self._stop, lambda: started.set_result(None))

    # -- the bridge -------------------------------------------------------------------------------
    async def _on_engine(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the engine's loop and await its outcome here; cancelling the caller
        cancels it there."""
        with self._lock:
            if not self._running:
                coro.close()
                raise self._dead()
            future = asyncio.run_coroutine_threadsafe(self._guard(coro), self._loop)
            self._pending.add(future)
        future.add_done_callback(self._discard)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.cancel()
            raise

    def _discard(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    async def wait_ended(self) -> str | None:
        """Wait until the engine's thread ends; returns `death`."""
        await asyncio.wrap_future(self._ended)
        return self.death

    async def read(self, fn: Callable[[Engine], T]) -> T:
        """`fn(engine)`, run on the engine's thread (e.g. a statistics snapshot)."""
        async def call() -> T:
            return fn(self._inner())
        return await self._on_engine(call())

    def now(self) -> float:
        """The engine's clock (simulated seconds), read from any thread."""
        return self._loop.time()

