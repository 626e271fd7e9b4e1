"""A sync tool's timeout applies (it runs in a worker thread, which is abandoned); reading a huge
file through the sandbox holds at most the cap in memory."""

from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path

import pytest

import agentrt
from agentrt.engine_adapters.testing import RecordingEngine
from agentrt.exceptions import ToolTimeoutError
from agentrt.runtime.runner import run
from agentrt.tools import Sandbox

release = threading.Event()


@agentrt.tool(timeout=0.2)
def blocks_until_released() -> str:
    """Waits for the test to let it go (a sync tool that outlives its timeout)."""
    release.wait(timeout=60)
    return "released"


@agentrt.program
async def calls_the_blocking_tool() -> str:
    return await blocks_until_released()  # type: ignore[no-any-return]


@pytest.mark.parametrize("virtual_time", [True, False])
def test_a_sync_tool_past_its_timeout_fails_while_its_thread_still_runs(virtual_time: bool) -> None:
    release.clear()

    async def main() -> agentrt.ProgramRecord:
        async with agentrt.Runtime(engine=RecordingEngine()) as rt:
            handle = rt.submit(calls_the_blocking_tool)
        return handle.record

    try:
        record = run(main, virtual_time=virtual_time)
        assert not release.is_set()  # the tool's thread was still blocked when the call failed
    finally:
        release.set()
    call = next(iter(record.calls.values()))
    assert record.status.value == "failed" and ToolTimeoutError.__name__ in (record.error or "")
    assert call.error is not None and "timed out after 0.2 s" in call.error


def test_reading_a_huge_file_holds_only_the_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    with big.open("wb") as f:  # 1 GB, sparse: costs no disk
        f.truncate(1 << 30)
    tracemalloc.start()
    try:
        text = Sandbox(tmp_path, max_read_chars=100_000).read_text("big.log")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert text.startswith("\0" * 100_000) and text.endswith(f"[... about {(1 << 30) - 100_000} more bytes not shown ...]")
    assert peak < 5 * 100_000 * 4  # a few copies of the cap, not the gigabyte


@agentrt.program
async def sleeps_with_pid(pid_file: str) -> int:
    from agentrt.tools import bash

    run_ = await bash(f"echo $$ > {pid_file}.tmp && mv {pid_file}.tmp {pid_file} && exec sleep 1000", timeout=600)
    return run_.exit_code  # type: ignore[no-any-return]


def test_a_tool_process_killed_from_outside_is_its_exit_code_not_a_hang(tmp_path: Path) -> None:
    import os
    import signal

    import anyio

    pid_file = tmp_path / "pid"

    async def main() -> int:
        async with agentrt.Runtime(engine=RecordingEngine()) as rt:
            handle = rt.submit(sleeps_with_pid, str(pid_file))
            while not pid_file.exists():
                await anyio.sleep(0.01)
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
            return await handle  # type: ignore[no-any-return]

    assert run(main) == -signal.SIGKILL
