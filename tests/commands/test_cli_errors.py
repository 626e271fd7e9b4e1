"""No traceback for a user error: each bad flag, file, line or field is one line naming it, exit 2;
a run whose programs all fail exits 1 naming the cause; outputs are checked before the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentrt.cli import main as cli

TRACE = "swesmith-claude37"  # bundled: 5 programs
GOOD_LINE = '{"program_id": "a", "steps": [{"kind": "llm", "input_tokens": 10, "output_tokens": 2}]}'
PROGRAM = "import agentrt\n\n@agentrt.program\nasync def one() -> int:\n    return 1\n"


def one_error_line(capsys: pytest.CaptureFixture[str], command: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"agentrt {command}: error: "), err
    return lines[0]


def cases(tmp: Path) -> list[tuple[list[str], str]]:
    (tmp / "binary.jsonl").write_bytes(b'{"program_id": "\xff\xfe"}\n')
    (tmp / "huge.jsonl").write_text(GOOD_LINE[:-2] + ', {"kind": "tool", "name": "bash", "duration_s": 1e15}]}\n')
    (tmp / "prog.py").write_text(PROGRAM)
    (tmp / "folder").mkdir()
    (tmp / "syntax.py").write_text("import agentrt\ndef broken(:\n")
    (tmp / "raises.py").write_text("import agentrt\n\nraise RuntimeError('no config')\n")
    return [
        (["submit", f"{tmp / 'syntax.py'}:broken"], f"{tmp / 'syntax.py'}:2: importing"),
        (["submit", f"{tmp / 'raises.py'}:x"], f"{tmp / 'raises.py'}:3: importing {tmp / 'raises.py'} raised RuntimeError: no config"),
        (["submit", f"{tmp / 'prog.py'}:one", "--inputs", str(tmp / "nope.jsonl")], "no inputs file"),
        (["replay", str(tmp / "nope.jsonl")], "no trace at"),
        (["replay", str(tmp / "folder")], "is a folder"),
        (["replay", str(tmp / "binary.jsonl")], "binary.jsonl:1: field '<encoding>'"),
        (["replay", str(tmp / "huge.jsonl")], "huge.jsonl:1: field 'steps.1.tool.duration_s'"),
        (["replay", TRACE, "--system-prompt-tokens", "-5"], "--system-prompt-tokens -5"),
        (["replay", TRACE, "--num-gpu-blocks", "-3"], "--num-gpu-blocks -3"),
        (["replay", TRACE, "--limit", "0"], "--limit 0"),
        (["replay", TRACE, "--token-scale", "1e308"], "--token-scale 1e+308"),
        (["replay", TRACE, "--output", str(tmp / "folder")], f"--output {tmp / 'folder'}: is a folder"),
        (["replay", TRACE, "--timeout", "0"], "--timeout 0"),
        (["bench", TRACE, "--rates", "0.1", "--output", "/proc/nope/x"], "--output /proc/nope/x"),
        (["bench", TRACE, "--rates", "0.1", "--deadline", "-1"], "--deadline -1"),
        (["bench", TRACE, "--rates", "0.1", "--host-kv-gib", "nan"], "--host-kv-gib nan"),
        (["bench", TRACE, "--rates", "0.1", "--engine", "vllm", "--host-kv-gib", "2"], "--host-kv-gib 2.0"),
        (["submit", f"{tmp / 'prog.py'}:one", "--output", str(tmp / "folder")], "is a folder"),
        (["submit", f"{tmp / 'prog.py'}:one", "--timeout", "nan"], "--timeout nan"),
        (["serve", "--engine", "vllm", "--model", str(tmp / "folder"), "--replicas", "2"], "needs --ray"),
        (["serve", "--replicas", "2", "--ray", "--time-scale", "10"], "--time-scale 10.0 with --ray"),
        (["serve", "--engine", "vllm", "--replicas", "2", "--ray"], "--engine vllm needs --model DIR"),
        (["serve", "--engine", "vllm", "--model", str(tmp / "folder"), "--replicas", "2", "--ray"],
         f"cannot read {tmp / 'folder' / 'config.json'}"),
        (["serve", "--engine", "vllm", "--model", str(tmp / "folder"), "--request-timeout", "0"], "--request-timeout 0.0"),
        (["serve", "--engine", "vllm", "--model", str(tmp / "folder"), "--request-timeout", "nan"], "--request-timeout nan"),
    ]


@pytest.mark.parametrize("index", range(25))
def test_a_user_error_is_one_line_naming_it_with_exit_2(index: int, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    argv, named = cases(tmp_path)[index]
    assert cli(argv) == 2
    assert named in one_error_line(capsys, argv[0])


def test_a_replay_whose_programs_all_fail_exits_1_naming_the_cause(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    assert cli(["replay", TRACE, "--num-gpu-blocks", "1", "--output", str(out)]) == 1
    line = one_error_line(capsys, "replay")
    assert "all 5 programs failed; top causes: 5 x PromptTooLongError" in line
    records = [json.loads(x) for x in out.with_suffix(".programs.jsonl").read_text().splitlines()]
    assert len(records) == 5 and all(r["error"].startswith("PromptTooLongError: ") for r in records)
    assert all(p["error"] for p in json.loads(out.read_text())["programs"])


def test_a_bench_whose_unloaded_run_fails_names_the_cause_not_a_rate(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["bench", TRACE, "--num-gpu-blocks", "1", "--output", str(tmp_path)]) == 1
    line = one_error_line(capsys, "bench")
    assert "bench fcfs @ unloaded: all 5 programs failed; top causes: 5 x PromptTooLongError" in line
    assert line.endswith(f"; kept 1 finished runs in {tmp_path / 'runs.jsonl'}")
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 1  # the run that finished is kept


def test_a_bad_bench_output_fails_before_any_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["bench", TRACE, "--rates", "0.05,0.1", "--output", "/proc/nope/x"]) == 2
    assert "bench" not in capsys.readouterr().out  # no progress: nothing ran


SLOW = '''import agentrt
from agentrt.tools import bash


@agentrt.program
async def slow() -> int:
    await bash("exec sleep 1000", timeout=2000)
    return 2
'''


def test_submit_deadline_stops_what_runs_and_keeps_what_finished(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "slow.py").write_text(SLOW)
    out = tmp_path / "r.jsonl"
    assert cli(["submit", f"{tmp_path / 'slow.py'}:slow", "--n", "2", "--deadline", "0.5", "--output", str(out),
                "--no-progress"]) == 1
    line = one_error_line(capsys, "submit")
    assert "all 2 programs failed; top causes: 2 x RunDeadlineError: program slow (p*) was stopped: the run's " \
           "deadline of 0.5 wall seconds passed" in line
    assert [json.loads(x)["status"] for x in out.read_text().splitlines()] == ["failed", "failed"]


def test_bench_deadline_stops_between_runs_keeping_the_finished_ones(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["bench", TRACE, "--rates", "0.1", "--deadline", "1e-9", "--output", str(tmp_path)]) == 1
    line = one_error_line(capsys, "bench")
    assert "--deadline passed; the bench stopped before" in line and line.endswith("kept 0 finished runs in "
                                                                                    f"{tmp_path / 'runs.jsonl'}")
