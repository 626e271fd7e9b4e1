"""Workload mixes: named workloads, weights, N programs drawn with replacement (seeded)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from agentrt.exceptions import ConfigError
from agentrt.replay.mix import BFCL, SWEBENCH, MixPart, describe_mix, load_mix, parse_mix
from agentrt.replay.trace import load_trace


def write(tmp_path: Path, name: str, ids: list[str]) -> str:
    p = tmp_path / f"{name}.jsonl"
    p.write_text("".join(f'{{"program_id": "{i}", "steps": [{{"kind": "llm", "input_tokens": 10, '
                         f'"output_tokens": 1}}]}}\n' for i in ids))
    return str(p)


def test_mixed_is_swebench_and_bfcl_and_holds_both_traces() -> None:
    assert parse_mix("mixed") == (MixPart(SWEBENCH), MixPart(BFCL))
    programs = load_mix(parse_mix("mixed"))
    assert len(programs) == len(load_trace(SWEBENCH)) + len(load_trace(BFCL)) == 66 + 84
    sources = [p.program_id in {q.program_id for q in load_trace(BFCL)} for p in programs[:40]]
    assert 0 < sum(sources) < 40  # shuffled, not one trace after the other


def test_weights_parse_and_describe(tmp_path: Path) -> None:
    a, b = write(tmp_path, "a", ["a0"]), write(tmp_path, "b", ["b0"])
    parts = parse_mix(f"{a}:1,{b}:3")
    assert [p.weight for p in parts] == [1.0, 3.0]
    assert describe_mix(parts) == f"{a} x1 + {b} x3"
    assert parse_mix(a) == (MixPart(a),)


def test_draws_follow_the_weights_and_the_seed(tmp_path: Path) -> None:
    a, b = write(tmp_path, "a", ["a0", "a1"]), write(tmp_path, "b", ["b0", "b1", "b2"])
    parts = parse_mix(f"{a}:1,{b}:3")
    drawn = load_mix(parts, programs=4000, seed=7)
    by_trace = Counter(p.program_id[0] for p in drawn)
    assert by_trace["b"] / len(drawn) == pytest.approx(0.75, abs=0.03)
    assert set(p.program_id for p in drawn) == {"a0", "a1", "b0", "b1", "b2"}  # with replacement
    assert [p.program_id for p in load_mix(parts, programs=50, seed=7)] == [p.program_id for p in drawn[:50]]
    assert [p.program_id for p in load_mix(parts, programs=50, seed=8)] != [p.program_id for p in drawn[:50]]


def test_a_single_trace_keeps_its_order_and_limit(tmp_path: Path) -> None:
    a = write(tmp_path, "a", ["a0", "a1", "a2"])
    assert [p.program_id for p in load_mix(parse_mix(a), limit=2)] == ["a0", "a1"]


@pytest.mark.parametrize("text", ["x:0", "x:-1", "x:nan"])
def test_bad_weights_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="weight"):
        parse_mix(text)


def test_programs_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--programs must be >= 1"):
        load_mix(parse_mix(write(tmp_path, "a", ["a0"])), programs=0)
