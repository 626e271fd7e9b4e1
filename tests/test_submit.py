"""`agentrt submit` end to end through the CLI: results file, summary, failures, bad input,
Poisson arrivals, tracing, and an interrupted run keeping what finished."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentrt.cli import main
from agentrt.submit.results import read_results

PROGRAMS = '''
import anyio
import agentrt
from agentrt.tools import bash


@agentrt.program
async def echo(x: int, y: str = "a") -> dict:
    reply = await agentrt.llm(f"{x} {y}", max_tokens=3)
    return {"x": x, "y": y, "text": reply.text}


@agentrt.program
async def flaky(x: int) -> int:
    await agentrt.llm("hi", max_tokens=2)
    if x % 2:
        raise ValueError(f"odd {x}")
    return x


@agentrt.program
async def hang_from(x: int, pid_dir: str = "", first_hanging: int = 2) -> int:
    """From `first_hanging` on, runs a `sleep` that never ends; its pid goes to PID_DIR/X."""
    await agentrt.llm("hi", max_tokens=2)
    if x >= first_hanging:
        await bash(f"echo $$ > {pid_dir}/{x}.tmp && mv {pid_dir}/{x}.tmp {pid_dir}/{x} && exec sleep 100000",
                   timeout=200000)
    return x


def shout(request) -> str:
    return "OK OK"


not_a_program = 3
'''


@pytest.fixture
def programs(tmp_path: Path) -> Path:
    path = tmp_path / "agents.py"
    path.write_text(PROGRAMS)
    (tmp_path / "other.py").write_text("")
    return path


def inputs(tmp_path: Path, *lines: str) -> str:
    path = tmp_path / "inputs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def submit(*args: str) -> int:
    return main(["submit", *args, "--no-progress"])


def test_end_to_end_writes_results_and_a_summary(programs: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out" / "results.jsonl"
    lines = inputs(tmp_path, '{"x": 1}', "", '{"x": 2, "y": "b"}', '{"x": 3}')
    assert submit(f"{programs}:echo", "--inputs", lines, "--output", str(out), "--responder", "shout",
                  "--policy", "plas") == 0
    results = sorted(read_results(out), key=lambda r: r.index)
    assert [r.inputs for r in results] == [{"x": 1}, {"x": 2, "y": "b"}, {"x": 3}]
    assert [r.result for r in results] == [{"x": 1, "y": "a", "text": "OK OK"}, {"x": 2, "y": "b", "text": "OK OK"},
                                           {"x": 3, "y": "a", "text": "OK OK"}]
    assert all(r.status == "ok" and r.num_calls == 1 and r.jct > 0 and r.attained_service > 0 for r in results)
    assert all(r.start == 0.0 for r in results)  # no --rate: all at once
    shown = capsys.readouterr().out
    assert "echo on sim (plas)" in shown and "3 / 3" in shown and "JCT p95" in shown and "throughput" in shown


def test_a_failing_program_is_recorded_and_the_others_continue(programs: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    assert submit(f"{programs}:flaky", "--inputs", inputs(tmp_path, *(f'{{"x": {i}}}' for i in range(4))),
                  "--output", str(out), "--engine", "recording") == 1
    by_x = {r.inputs["x"]: r for r in read_results(out)}
    assert [by_x[i].status for i in range(4)] == ["ok", "failed", "ok", "failed"]
    assert by_x[1].error == "ValueError: odd 1" and by_x[1].result is None
    assert by_x[1].traceback is not None and 'raise ValueError(f"odd {x}")' in by_x[1].traceback
    assert by_x[2].result == 2 and by_x[2].error is None


def test_poisson_arrivals_are_spread_and_seeded(programs: Path, tmp_path: Path) -> None:
    starts = []
    for run in range(2):
        out = tmp_path / f"r{run}.jsonl"
        assert submit(f"{programs}:echo", "--inputs", inputs(tmp_path, '{"x": 1}'), "--n", "6",
                      "--rate", "2", "--seed", "7", "--output", str(out)) == 0
        starts.append(sorted(r.start for r in read_results(out)))
    assert starts[0] == starts[1] and starts[0][0] == 0.0 and len(set(starts[0])) == 6
    assert 0.5 < starts[0][-1] < 15  # 5 gaps of mean 0.5 s


def test_missing_file_lists_the_python_files_found(programs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert submit(f"{programs.parent / 'agent.py'}:echo") == 2
    err = capsys.readouterr().err
    assert "no file" in err and "agents.py, other.py" in err


def test_missing_program_lists_the_programs_found(programs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert submit(f"{programs}:eccho") == 2
    assert "unknown program 'eccho'; valid programs: echo, flaky, hang_from" in capsys.readouterr().err
    assert submit(f"{programs}:not_a_program") == 2
    assert "is int, not an @agentrt.program" in capsys.readouterr().err
    assert submit(str(programs)) == 2
    assert "give FILE:PROGRAM" in capsys.readouterr().err
    assert submit(f"{programs.parent / 'other.py'}:echo") == 2
    assert "other.py defines no @agentrt.program" in capsys.readouterr().err


def test_bad_inputs_lines_are_reported_with_their_line_number(programs: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert submit(f"{programs}:echo", "--inputs", inputs(tmp_path, '{"x": 1}', '{"x": 1, "z": 2}')) == 2
    err = capsys.readouterr().err
    assert "inputs.jsonl:2:" in err and "unexpected keyword argument 'z'" in err and "(x: int, y: str = 'a')" in err
    assert submit(f"{programs}:echo", "--inputs", inputs(tmp_path, '{"x": 1}', "", "[1]")) == 2
    assert "inputs.jsonl:3: expected a JSON object" in capsys.readouterr().err
    assert submit(f"{programs}:echo", "--inputs", inputs(tmp_path, "{x: 1}")) == 2
    assert "inputs.jsonl:1: not valid JSON" in capsys.readouterr().err
    assert submit(f"{programs}:echo", "--n", "3") == 2
    assert "missing a required argument: 'x'" in capsys.readouterr().err
    assert submit(f"{programs}:echo", "--inputs", inputs(tmp_path, '{"x": 1}'), "--responder", "yell") == 2
    assert "functions there: shout" in capsys.readouterr().err


def test_otel_console_exports_the_spans(programs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert submit(f"{programs}:echo", "--inputs", inputs(tmp_path, '{"x": 1}'), "--otel", "console") == 0
    shown = capsys.readouterr().out
    for name in ("program echo", "llm llm", "agentrt.program.jct", "agentrt.call.queue_wait"):  # spans, metrics
        assert f'"name": "{name}"' in shown, name


@pytest.mark.parametrize(("sig", "status", "said"), [(signal.SIGINT, 130, "interrupted"),
                                                     (signal.SIGTERM, 143, "terminated (SIGTERM)")])
def test_a_stopped_run_keeps_the_finished_results_and_kills_its_tools(
        programs: Path, tmp_path: Path, sig: signal.Signals, status: int, said: str) -> None:
    out, pid_dir = tmp_path / "results.jsonl", tmp_path / "pids"
    pid_dir.mkdir()
    lines = inputs(tmp_path, *(f'{{"x": {i}, "pid_dir": "{pid_dir}"}}' for i in range(5)))
    proc = subprocess.Popen([sys.executable, "-m", "agentrt", "submit", f"{programs}:hang_from", "--inputs", lines,
                             "--output", str(out), "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out.exists() and out.read_text().count("\n") == 2
                                               and len(list(pid_dir.iterdir())) == 3):
        time.sleep(0.05)
    sleeps = [int(p.read_text()) for p in pid_dir.iterdir()]
    assert len(sleeps) == 3 and all(_running(pid) for pid in sleeps)  # the hanging ones sleep in bash
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == status, stderr
    assert stderr.strip().splitlines()[-1] == f"agentrt submit: {said}"
    assert "Traceback" not in stderr
    assert "interrupted" in stdout and "2 / 5" in stdout  # the summary of what finished
    assert sorted(json.loads(line)["inputs"]["x"] for line in out.read_text().splitlines()) == [0, 1]
    gone_by = time.monotonic() + 10
    while time.monotonic() < gone_by and any(_running(pid) for pid in sleeps):
        time.sleep(0.05)
    assert not any(_running(pid) for pid in sleeps), "a tool's sleep outlived the run"


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
