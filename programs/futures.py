"""`CallFuture`: the awaitable handle of an LLM, tool or sub-program call.

A call starts running when it is issued; awaiting the future waits for it, marks its result as
consumed by the awaiting branch (which makes it a parent of the branch's next calls), and returns
the result or raises the call's typed error (`LLMCallError`, `ToolCallError`, ...).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Generic, Protocol, TypeVar

import anyio
import sniffio
import trio

from agentrt.programs import context
from agentrt.programs.records import CallRecord, CallStatus

T = TypeVar("T")


class _Event(Protocol):
    def set(self) -> None: ...
    async def wait(self) -> Any: ...


def _on_trio() -> bool:
    return sniffio.current_async_library() == "trio"


def _park(waiters: list[trio.lowlevel.Task]) -> Generator[Any, Any, None]:
    """Sleep until `_unpark(waiters)`: what `trio.Event().wait()` does through a ParkingLot,
    without creating an Event, its lot and the lot's dict for each awaited call (19 per program
    in benchmarks/scale.py). A cancelled wait leaves the list. A generator that `__await__`
    delegates to, not a coroutine: every frame between the program and trio's yield is walked
    twice per await (suspend and resume)."""
    task = trio.lowlevel.current_task()
    waiters.append(task)

    def abort(_: Any) -> trio.lowlevel.Abort:
        waiters.remove(task)
        return trio.lowlevel.Abort.SUCCEEDED

    yield from trio.lowlevel.wait_task_rescheduled(abort).__await__()


def _unpark(waiters: list[trio.lowlevel.Task]) -> None:
    for task in waiters:
        trio.lowlevel.reschedule(task)
    waiters.clear()


class CallFuture(Generic[T]):
    """Result of one call. Await it (possibly several times, from several branches)."""

    __slots__ = ("record", "_scope", "_waiters", "_event", "_result", "_error")

    def __init__(self, record: CallRecord, scope: context.ProgramScope) -> None:
        self.record = record
        self._scope = scope
        self._waiters: list[trio.lowlevel.Task] | None = None  # tasks parked on trio
        self._event: _Event | None = None  # elsewhere: an anyio Event
        self._result: Any = None
        self._error: BaseException | None = None

    @property
    def call_id(self) -> str:
        return self.record.call_id

    @property
    def status(self) -> CallStatus:
        return self.record.status

    def done(self) -> bool:
        return self.record.status.finished

    def result(self) -> T:
        """The result of a finished call. Raises its error, or RuntimeError if not finished."""
        if not self.done():
            raise RuntimeError(f"call {self.call_id} has not finished; await it instead")
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[no-any-return]

    def exception(self) -> BaseException | None:
        return self._error

    def __await__(self) -> Generator[Any, None, T]:
        if not self.done():
            if _on_trio():
                if self._waiters is None:
                    self._waiters = []
                yield from _park(self._waiters)
            else:
                if self._event is None:
                    self._event = anyio.Event()
                yield from self._event.wait().__await__()
        context.consume(self._scope, self.call_id)
        return self.result()

    # -- set by the runtime -------------------------------------------------------------------
    def _finish(self, status: CallStatus, result: Any = None, error: BaseException | None = None) -> None:
        self._result, self._error = result, error
        self.record.status = status
        if self._waiters:
            _unpark(self._waiters)
        if self._event is not None:
            self._event.set()

    def __repr__(self) -> str:
        return f"<CallFuture {self.record.name} {self.call_id} {self.record.status.value}>"
