"""SIGTERM handled as SIGINT, so `kill PID` cleans up like Ctrl-C.

Python's default SIGTERM ends the process at once: no `finally` runs, so tool subprocesses are
left orphaned (reparented to PID 1) and buffered results are lost. Here SIGTERM re-raises itself
as SIGINT, which both event loops already turn into a clean cancellation of every task (trio
delivers KeyboardInterrupt at a safe point; asyncio cancels the main task), each tool's process
group is killed in its `finally`, and the CLI then exits 143 instead of 130. Alternative
considered: raising an exception from the handler, which could land inside the event loop's own
bookkeeping.

A process can start with SIGINT ignored: a background job of a non-interactive shell
(`agentrt submit ... &` in a script) inherits SIG_IGN, and then neither event loop installs its
handler, so SIGTERM raised as SIGINT would do nothing. Within the block SIGINT gets Python's default
handler back in that case (restored after), so `kill PID` always stops the run cleanly; the cost is
that such a job also stops on an explicit SIGINT.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(slots=True)
class Received:
    """Which stop signal arrived, if any."""

    sigterm: bool = False

    @property
    def exit_code(self) -> int:
        return 128 + (signal.SIGTERM if self.sigterm else signal.SIGINT)

    @property
    def message(self) -> str:
        return "terminated (SIGTERM)" if self.sigterm else "interrupted"


@contextmanager
def sigterm_as_interrupt() -> Iterator[Received]:
    """Within the block SIGTERM acts as SIGINT (KeyboardInterrupt) and is noted in the result."""
    received = Received()
    if threading.current_thread() is not threading.main_thread():  # signals go to the main thread only
        yield received
        return

    def on_sigterm(signum: int, frame: object) -> None:
        received.sigterm = True
        signal.raise_signal(signal.SIGINT)

    sigint_ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if sigint_ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield received
    finally:
        signal.signal(signal.SIGTERM, previous)
        if sigint_ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
