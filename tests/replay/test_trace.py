"""The trace loader: the bundled traces load; malformed lines name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrt.exceptions import TraceFormatError
from agentrt.replay import LLMStep, ToolStep, load_trace, make_scaling, poisson_arrivals

GOOD = '{"program_id": "a", "steps": [{"kind": "llm", "input_tokens": 100, "output_tokens": 10, "new_input_tokens": 100}, {"kind": "tool", "name": "bash", "duration_s": 0.5}]}'


def write(tmp_path: Path, *lines: str) -> Path:
    p = tmp_path / "t.jsonl"
    p.write_text("\n".join(lines) + "\n")
    return p


def test_bundled_swebench_trace_loads_by_name() -> None:
    programs = load_trace("swebench-lite-deepseek-v3")
    assert len(programs) == 66
    assert sum(len(p.llm_steps) for p in programs) == 5454
    assert isinstance(programs[0].steps[0], LLMStep) and isinstance(programs[0].steps[1], ToolStep)


@pytest.mark.parametrize(("bad", "field", "line"), [
    ('{"program_id": "b", "steps": [{"kind": "llm", "input_tokens": -5, "output_tokens": 1}]}', "steps.0.llm.input_tokens", 2),
    ('{"program_id": "b", "steps": [{"kind": "tool", "duration_s": 1.0}]}', "steps.0.tool.name", 2),
    ('{"program_id": "b", "steps": [{"kind": "think"}]}', "steps.0", 2),
    ('{"program_id": "b", "steps": []}', "steps", 2),
    ('{"program_id": "b", "steps": [{"kind": "tool", "name": "x", "duration_s": -1}]}', "steps.0.tool.duration_s", 2),
    ('{"program_id": "b", "steps": [', "<json>", 2),
])
def test_malformed_line_names_file_line_and_field(tmp_path: Path, bad: str, field: str, line: int) -> None:
    path = write(tmp_path, GOOD, bad, GOOD)
    with pytest.raises(TraceFormatError) as info:
        load_trace(path)
    err = info.value
    assert (err.path, err.line, err.field) == (str(path), line, field)
    assert f"{path}:{line}" in str(err) and "--skip-bad-lines" in str(err)


def test_skip_bad_lines_reports_and_skips(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, "not json", GOOD)
    skipped: list[TraceFormatError] = []
    programs = load_trace(path, skip_bad_lines=True, on_skip=skipped.append)
    assert len(programs) == 2 and [e.line for e in skipped] == [2]


def test_missing_trace_lists_bundled_names() -> None:
    with pytest.raises(FileNotFoundError, match="swebench-lite-deepseek-v3"):
        load_trace("no-such-trace")


def test_poisson_arrivals_are_reproducible_for_a_seed() -> None:
    a = poisson_arrivals(50, 2.0, seed=7)
    assert a == poisson_arrivals(50, 2.0, seed=7)
    assert a != poisson_arrivals(50, 2.0, seed=8)
    assert a[0] == 0.0 and all(x < y for x, y in zip(a, a[1:]))
    assert 15 < a[-1] < 40  # 49 gaps of mean 0.5 s


def test_token_scaling_fits_max_context(tmp_path: Path) -> None:
    programs = load_trace(write(tmp_path, GOOD))
    s = make_scaling(programs, token_scale=1.0, max_context=57)
    assert s.scale == pytest.approx(0.5) and s.requested == 1.0
    assert s.tokens(100) == 50 and s.tokens(1, at_least=1) == 1
