"""`agentrt replay` under generated flags (hypothesis): any combination of values either runs
(exit 0, or 1 when every program failed) or is refused in one line naming the flag (exit 2);
never a traceback, never a hang."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentrt.cli import main as cli

TRACE = ('{"program_id": "a", "steps": [{"kind": "llm", "input_tokens": 300, "output_tokens": 20}, '
         '{"kind": "tool", "name": "bash", "duration_s": 3.5}, {"kind": "llm", "input_tokens": 400, "output_tokens": 9}]}\n'
         '{"program_id": "b", "steps": [{"kind": "llm", "input_tokens": 90, "output_tokens": 4}]}\n')

ints = st.one_of(st.integers(-3, 5000), st.sampled_from([0, 2**31, 10**12, -(10**12)])).map(str)
floats = st.one_of(st.floats(-5, 1e6), st.sampled_from([0.0, 1e-300, 1e308, float("inf"), float("nan")])).map(str)
junk = st.sampled_from(["", "x", "1e", "0x10"])
FLAGS = {"--token-scale": floats, "--system-prompt-tokens": ints, "--limit": ints, "--num-gpu-blocks": ints,
         "--rate": floats, "--max-context": ints, "--timeout": floats, "--seed": ints, "--policy": st.sampled_from(
             ["fcfs", "agentrt", "continuum", "nope"])}
argv = st.dictionaries(st.sampled_from(sorted(FLAGS)), st.none(), max_size=4).flatmap(
    lambda chosen: st.fixed_dictionaries({k: st.one_of(FLAGS[k], junk) for k in chosen}))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flags=argv)
def test_any_flags_run_or_fail_in_one_line(flags: dict[str, str], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text(TRACE)
    args = ["replay", str(trace), "--output", str(tmp_path / "r.json")]
    for flag, value in flags.items():
        args.append(f"{flag}={value}")
    try:
        status = cli(args)
    except SystemExit as exc:  # argparse: a value of the wrong type
        status = exc.code  # type: ignore[assignment]
        assert status == 2
        assert capsys.readouterr().err.strip().splitlines()[-1].startswith("agentrt replay: error: argument ")
        return
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert status in (0, 1, 2), err
    if status:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("agentrt replay: error: "), err
