"""`Mailbox`: callbacks posted from any thread, run on one event loop in batches.

Why: `call_soon_threadsafe` writes to the loop's wake-up pipe on every call, and each write wakes
the other thread, which takes the GIL and runs before the poster continues. A mailbox writes once
per batch: only the post that finds it empty wakes the loop, and the loop then runs every callback
posted until it drains them, in the order they were posted.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any


class Mailbox:
    """Runs posted callbacks on `loop`, in posting order, one wake-up of the loop per batch."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False

    def post(self, fn: Callable[..., object], *args: Any) -> bool:
        """Run `fn(*args)` on the loop, after what was posted before. Returns False (and drops
        the callback) if the loop is closed."""
        with self._lock:
            self._items.append((fn, args))
            if self._scheduled:
                return True
            self._scheduled = True
        try:
            self._loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: nothing will run there again
            with self._lock:
                self._items.clear()
                self._scheduled = False
            return False
        return True

    def _drain(self) -> None:
        with self._lock:
            items, self._items = self._items, deque()
            self._scheduled = False
        for fn, args in items:
            try:
                fn(*args)
            except Exception as exc:  # one failing callback must not drop the batch's others
                self._loop.call_exception_handler({"message": "mailbox callback failed", "exception": exc})
