"""Mailbox: callbacks posted from another thread run on the loop in order, one wake-up per batch."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from agentrt.serve.mailbox import Mailbox


def _counting_wakeups(loop: asyncio.AbstractEventLoop) -> list[int]:
    wakeups = [0]
    original = loop.call_soon_threadsafe

    def counted(*args: Any, **kwargs: Any) -> Any:
        wakeups[0] += 1
        return original(*args, **kwargs)

    loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
    return wakeups


def test_a_batch_posted_from_another_thread_runs_in_order_with_one_wakeup() -> None:
    loop = asyncio.new_event_loop()
    try:
        wakeups = _counting_wakeups(loop)
        mailbox = Mailbox(loop)
        ran: list[int] = []
        poster = threading.Thread(target=lambda: [mailbox.post(ran.append, i) for i in range(100)])
        poster.start()
        poster.join()
        assert ran == []  # nothing runs off the loop
        loop.run_until_complete(asyncio.sleep(0))
        assert ran == list(range(100))
        assert wakeups[0] == 1
        mailbox.post(ran.append, 100)  # drained: the next post wakes the loop again
        loop.run_until_complete(asyncio.sleep(0))
        assert ran[-1] == 100 and wakeups[0] == 2
    finally:
        loop.close()


def test_a_failing_callback_does_not_drop_the_rest_of_its_batch() -> None:
    loop = asyncio.new_event_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        mailbox = Mailbox(loop)
        ran: list[str] = []
        mailbox.post(lambda: 1 / 0)
        mailbox.post(ran.append, "after")
        loop.run_until_complete(asyncio.sleep(0))
        assert ran == ["after"]
        assert isinstance(errors[0]["exception"], ZeroDivisionError)
    finally:
        loop.close()


def test_posting_to_a_closed_loop_returns_false() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    assert Mailbox(loop).post(print, "never") is False
