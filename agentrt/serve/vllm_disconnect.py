"""Ending a call's request handling in vLLM's server early, as a client that goes away does.

vLLM aborts a request in its engine (and frees its KV) when the request's client disconnects, and
offers no other way to abort one from outside by an id the middleware knows. So a call cut short
(its program ended, its timeout passed) is told `http.disconnect` on its receive channel; vLLM's
handler then aborts the request, and what it sends afterwards is the middleware's to drop.

Alternative considered: cancelling the call's request handling. That aborts a streamed call (its
generator runs in the handling's task) but not a JSON one: vLLM runs that handler in a task of its
own (`with_cancellation`), which only a disconnect cancels, so it ran on to its end, KV held.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from agentrt.exceptions import ServeError
from agentrt.serve.timeouts import RequestTimeout

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
GRACE_SECONDS = 30.0  # after a cut, vLLM's handling has this long to return before it is cancelled


class Cut:
    """Ends one call's request handling early; `error` is what its client is answered."""

    def __init__(self) -> None:
        self.error: ServeError | None = None
        self.event = anyio.Event()

    def __call__(self, error: ServeError) -> None:
        """Cut the call (the first cause wins)."""
        if self.error is None:
            self.error = error
            self.event.set()


async def expire(cut: Cut, timeout: RequestTimeout | None, handling: anyio.CancelScope) -> None:
    """Cut the call at its timeout; if vLLM's handling has not returned `GRACE_SECONDS` after a
    cut, cancel it (a backstop: vLLM returns at once after a disconnect)."""
    with anyio.move_on_after(math.inf if timeout is None else timeout.seconds):
        await cut.event.wait()
    if timeout is not None:
        cut(timeout.error())
    await anyio.sleep(GRACE_SECONDS)
    handling.cancel()


def replay(body: bytes, receive: Receive, cut: Cut | None = None) -> Receive:
    """A receive that yields `body` once, then the real channel (for disconnects), or a disconnect
    once `cut` is."""
    sent = [False]

    async def next_message() -> Message:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        if cut is None:
            return await receive()
        got: list[Message] = []
        async with anyio.create_task_group() as tg:
            async def from_client() -> None:
                got.append(await receive())
                tg.cancel_scope.cancel()

            tg.start_soon(from_client)
            await cut.event.wait()
            tg.cancel_scope.cancel()
        return got[0] if got else {"type": "http.disconnect"}

    return next_message
