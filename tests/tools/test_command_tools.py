"""The `bash` and `python` tools: exit codes returned, output capped, and no process of the command's
group surviving a timeout or a cancellation. Real subprocesses; timeouts are on the wall clock, so
these run on asyncio and on trio with a virtual clock alike."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import pytest
import trio
from trio.testing import MockClock

import agentrt
from agentrt.engine_adapters.testing import RecordingEngine
from agentrt.exceptions import CommandTimeoutError, ConfigError
from agentrt.tools import bash, python, run_command

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")]


def live_pids_in_group(pgid: int) -> list[int]:
    """Processes of the group that are neither gone nor zombies (a zombie is dead, only unreaped)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append(int(stat.parent.name))
    return out


def wait_until_gone(pgid: int, deadline_s: float = 2.0) -> list[int]:
    end = time.monotonic() + deadline_s
    while (alive := live_pids_in_group(pgid)) and time.monotonic() < end:
        time.sleep(0.02)
    return alive


def pids(output: str) -> list[int]:
    return [int(line) for line in output.split() if line.isdigit()]


async def test_exit_code_is_returned_not_raised(anyio_backend: object, tmp_path: Path) -> None:
    result = await bash.fn("echo out; echo err >&2; exit 3", cwd=str(tmp_path))
    assert (result.exit_code, result.ok, result.truncated) == (3, False, False)
    assert result.output == "out\nerr\n"
    ok = await bash.fn("pwd", cwd=str(tmp_path))
    assert ok.ok and ok.output.strip() == str(tmp_path.resolve())


async def test_output_is_capped_keeping_start_and_end(anyio_backend: object) -> None:
    result = await python.fn("print('a' * 30000 + 'b' * 30000)", max_output=1000)
    assert result.ok and result.truncated
    assert result.output.startswith("a" * 500) and result.output.endswith("b" * 499 + "\n")
    assert "bytes of output omitted" in result.output and len(result.output) < 1100


async def test_bash_timeout_kills_grandchildren(anyio_backend: object) -> None:
    with pytest.raises(CommandTimeoutError) as info:
        await bash.fn("echo $$; sleep 300 & echo $!; sleep 300", timeout=0.5)
    err = info.value
    assert isinstance(err, agentrt.ToolTimeoutError) and err.timeout == 0.5 and "sleep 300" in err.command
    pgid, grandchild = pids(err.output)
    assert os.getpgid(os.getpid()) != pgid  # the command ran in a group of its own
    assert wait_until_gone(pgid) == []
    assert grandchild not in live_pids_in_group(pgid)


async def test_python_timeout_kills_the_processes_it_started(anyio_backend: object) -> None:
    code = ("import os, subprocess, time\nchild = subprocess.Popen(['sleep', '300'])\n"
            "print(os.getpgid(0), child.pid, flush=True)\ntime.sleep(300)")
    with pytest.raises(CommandTimeoutError) as info:
        await python.fn(code, timeout=0.5)
    pgid, child = pids(info.value.output)
    assert wait_until_gone(pgid) == [] and child not in live_pids_in_group(pgid)


async def test_background_child_is_killed_after_a_normal_exit(anyio_backend: object) -> None:
    start = time.monotonic()
    result = await bash.fn("echo $$; sleep 300 & echo started", timeout=5)
    assert result.ok and time.monotonic() - start < 3  # does not wait for the child's pipe
    assert wait_until_gone(pids(result.output)[0]) == []


async def test_cancellation_kills_the_group(anyio_backend: object, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    def wait_for_pidfile() -> None:
        end = time.monotonic() + 5
        while not (pidfile.exists() and pidfile.read_text().endswith("\n")) and time.monotonic() < end:
            time.sleep(0.02)

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: bash.fn(f"echo $$ > {pidfile}; sleep 300 & sleep 300", timeout=60))
        await anyio.to_thread.run_sync(wait_for_pidfile)
        tg.cancel_scope.cancel()
    assert wait_until_gone(int(pidfile.read_text())) == []


async def test_bad_arguments_are_config_errors(anyio_backend: object, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        await bash.fn("true", cwd=str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="must both be > 0"):
        await run_command(["true"], timeout=0)


@agentrt.program
async def runs_commands(workdir: str) -> tuple[int, str, str]:
    result = await bash("exit 7", cwd=workdir)
    fut = bash("echo $$; sleep 300 & sleep 300", cwd=workdir, timeout=0.3)
    try:
        await fut
    except agentrt.ToolTimeoutError as exc:
        assert isinstance(exc, CommandTimeoutError)
        return result.exit_code, exc.call_id, fut.call_id
    raise AssertionError("no timeout")


async def test_a_program_gets_a_typed_timeout_error_naming_the_call(anyio_backend: object, tmp_path: Path) -> None:
    async with agentrt.Runtime(engine=RecordingEngine()) as rt:
        exit_code, error_call, call_id = await rt.submit(runs_commands, str(tmp_path))
    assert exit_code == 7 and error_call == call_id == "p1.2"
    assert rt.predictor is not None  # the tool durations were observed (wired in the runtime)


@agentrt.tool(timeout=0.3)
async def bounded_shell(command: str) -> str:
    return (await bash.fn(command, timeout=60)).output


@agentrt.program
async def uses_bounded_shell(pidfile: str) -> str:
    try:
        await bounded_shell(f"echo $$ > {pidfile}; sleep 300 & sleep 300")
    except agentrt.ToolTimeoutError as exc:
        return exc.call_id
    return "no timeout"


async def test_a_tool_level_timeout_cancels_the_command_and_kills_its_group(anyio_backend: str, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    async with agentrt.Runtime(engine=RecordingEngine()) as rt:
        assert await rt.submit(uses_bounded_shell, str(pidfile)) == "p1.1"
    assert wait_until_gone(int(pidfile.read_text())) == []


@pytest.mark.virtual_time
async def test_under_virtual_time_a_command_takes_its_real_duration(anyio_backend: object) -> None:
    clock = trio.lowlevel.current_clock()
    assert isinstance(clock, MockClock) and clock.autojump_threshold == 0
    start = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.sleep, 100)  # a virtual deadline the clock would otherwise jump to
        await bash.fn("sleep 0.3")
        await python.fn("import time; time.sleep(0.2)")
        assert 0.5 <= anyio.current_time() - start < 5
        tg.cancel_scope.cancel()
    assert (clock.rate, clock.autojump_threshold) == (0.0, 0.0)  # virtual again afterwards
    await anyio.sleep(1000)
    assert 1000 < anyio.current_time() - start < 1005
