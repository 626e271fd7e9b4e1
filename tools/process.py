"""Run a command in its own process group with a wall-clock timeout and an output cap.

Guarantee: when `run_command` returns, raises or is cancelled, every process of the command's
process group has been sent SIGKILL, grandchildren included (`sleep 300 &` does not survive).
Only a process that deliberately leaves the group (`setsid`) escapes. On SIGTERM the CLI cancels
like on SIGINT (`agentrt/commands/_signals.py`), and an `atexit` hook kills any group left over.

Why a worker thread on the wall clock: the runtime's clock may be virtual (trio's MockClock under
the simulator), and a virtual clock jumps ahead whenever every task waits, so a timeout on it would
fire at once while a real process runs. The thread waits on the wall clock; the async side only
awaits the thread and kills the group in `finally`, which also covers cancellation. Alternative
considered: `anyio.open_process` with `fail_after`, correct on asyncio, wrong under virtual time.

Why kill the group even after a normal exit: a background child would otherwise outlive the call
and hold the output pipe open, so the output would never end.
"""

from __future__ import annotations

import atexit
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio

from agentrt.exceptions import CommandTimeoutError, ConfigError
from agentrt.tools.clock import real_time
from agentrt.tools.registry import annotate_call, current_tool_call

# Keep pagers and progress bars out of captured output (as mini-swe-agent does).
QUIET_ENV = {"PAGER": "cat", "MANPAGER": "cat", "LESS": "-R", "PIP_PROGRESS_BAR": "off", "TQDM_DISABLE": "1"}
_POLL_S = 0.05
_DRAIN_S = 1.0


@dataclass(slots=True, frozen=True)
class CommandResult:
    """A finished command. A non-zero `exit_code` is a result, not an error (-N: killed by signal N).

    `output` is stdout and stderr interleaved; when longer than the cap its middle is cut out and
    replaced by a note saying how much (`truncated` is then True). `duration` is wall seconds."""

    exit_code: int
    output: str
    truncated: bool = False
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __str__(self) -> str:
        return f"exit code {self.exit_code}\n{self.output}"


class OutputCap:
    """Keeps the first and last `max_chars // 2` bytes of a stream and counts the rest."""

    def __init__(self, max_chars: int) -> None:
        self.half = max(1, max_chars // 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.half - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        if len(self.tail) > self.half:
            del self.tail[:len(self.tail) - self.half]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.head) + len(self.tail)

    def text(self) -> str:
        head = self.head.decode(errors="replace")
        tail = self.tail.decode(errors="replace")
        if not self.truncated:
            return head + tail
        omitted = self.total - len(self.head) - len(self.tail)
        return f"{head}\n[... {omitted} bytes of output omitted ...]\n{tail}"


async def run_command(argv: Sequence[str], *, cwd: str | os.PathLike[str] = ".", timeout: float = 60.0,
                      max_output: int = 10_000, env: Mapping[str, str] | None = None,
                      label: str | None = None, tool_name: str = "command") -> CommandResult:
    """Run `argv` in a new process group in `cwd`; return its exit code and capped output.

    Raises ConfigError for a missing `cwd` or a non-positive timeout/max_output, and
    CommandTimeoutError (a ToolTimeoutError) after killing the group when it runs past `timeout`
    wall seconds. `label` is the command as shown in errors (default: argv joined); `tool_name`
    names the call in that error when not run as a tool call."""
    if not timeout > 0 or max_output <= 0:
        raise ConfigError(f"timeout={timeout!r} and max_output={max_output!r} must both be > 0")
    if not Path(cwd).is_dir():
        raise ConfigError(f"working directory {str(cwd)!r} does not exist; pass an existing directory as cwd=")
    cap = OutputCap(max_output)
    owner = _Owner()
    start = time.monotonic()
    with real_time():
        proc = subprocess.Popen(list(argv), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **QUIET_ENV, **(env or {})})
        _live_groups.add(proc.pid)
        try:
            timed_out = await anyio.to_thread.run_sync(_collect, proc, timeout, cap, owner, abandon_on_cancel=True)
        finally:
            kill_group(proc.pid)  # also on cancellation: a running thread then reaps the command
            _live_groups.discard(proc.pid)
            if owner.claim():  # cancelled before the thread started: reap here (SIGKILLed, so at once)
                proc.wait()
                _close(proc)
    label = label or " ".join(argv)
    if timed_out:
        annotate_call(timed_out=True)
        info = current_tool_call()
        raise CommandTimeoutError(label, timeout, cap.text(), call_id=info.call_id if info else "-",
                                  call_name=info.tool_name if info else tool_name)
    assert proc.returncode is not None
    annotate_call(exit_code=proc.returncode)
    return CommandResult(proc.returncode, cap.text(), cap.truncated, time.monotonic() - start)


# Groups started and not yet killed: the backstop for exits that skip `finally` (sys.exit from a
# thread, an unhandled error in the event loop); atexit kills them.
_live_groups: set[int] = set()


@atexit.register
def kill_live_groups() -> None:
    """SIGKILL every command group still running (at interpreter exit)."""
    for pgid in list(_live_groups):
        kill_group(pgid)
    _live_groups.clear()


def kill_group(pgid: int) -> None:
    """SIGKILL every process of the group (no-op when none is left)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class _Owner:
    """Who reaps the command: the worker thread, or the caller if cancelled before it started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claimed = False

    def claim(self) -> bool:
        with self._lock:
            first, self._claimed = not self._claimed, True
            return first


def _close(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdout is not None:
        proc.stdout.close()


def _collect(proc: subprocess.Popen[bytes], timeout: float, cap: OutputCap, owner: _Owner) -> bool:
    """Read output until the command exits or the deadline passes; kill the group, reap the
    command, drain what is left. Returns whether the deadline passed. Runs in a worker thread."""
    if not owner.claim():
        return False
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    timed_out, eof = False, False
    try:
        while not eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            eof = _read_some(fd, cap, min(remaining, _POLL_S))
            if not eof and proc.poll() is not None:
                break  # the command exited; a background child may still hold the pipe
        kill_group(proc.pid)
        proc.wait()
        drain_until = time.monotonic() + _DRAIN_S
        while not eof and time.monotonic() < drain_until:
            eof = _read_some(fd, cap, _POLL_S)
    finally:
        _close(proc)
    return timed_out


def _read_some(fd: int, cap: OutputCap, wait_s: float) -> bool:
    """Read what is available within `wait_s`; return True at end of file."""
    ready, _, _ = select.select([fd], [], [], wait_s)
    if not ready:
        return False
    data = os.read(fd, 65536)
    cap.feed(data)
    return not data
