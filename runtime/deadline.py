"""`WallDeadline`: run a callback in the event loop once a wall-clock instant has passed.

The run deadline (`Runtime(deadline=...)`, `--deadline`) is in wall seconds even under the
simulator: its job is to bound how long a user waits, and a virtual clock says nothing about that
(a simulation stuck spinning never advances it). A daemon thread sleeps on the wall clock and hands
the callback to the event loop (`anyio.from_thread.run_sync`), which works on asyncio and on trio
alike. Alternative considered: SIGALRM, which the CLI cannot share with user code and which fires
in whatever code happens to run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import anyio.from_thread
import anyio.lowlevel


class WallDeadline:
    """Calls `on_expiry()` in the event loop at wall time `at` (`time.monotonic()`), unless
    `cancel()` came first. Create it inside the event loop."""

    def __init__(self, at: float, on_expiry: Callable[[], None]) -> None:
        self.at = at
        self._on_expiry = on_expiry
        self._token = anyio.lowlevel.current_token()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._wait, name="agentrt-deadline", daemon=True)
        self._thread.start()

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def cancel(self) -> None:
        self._stop.set()

    def _wait(self) -> None:
        if self._stop.wait(max(0.0, self.at - time.monotonic())):
            return
        try:
            anyio.from_thread.run_sync(self._fire, token=self._token)
        except RuntimeError:  # the event loop has already ended
            pass

    def _fire(self) -> None:
        if not self._stop.is_set():
            self._on_expiry()
