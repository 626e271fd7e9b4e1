"""Replay under virtual time: exact JCTs on a hand-written trace; the bench writes its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import agentrt
from agentrt.cli import main as cli
from agentrt.engine_adapters.testing import RecordingEngine
from agentrt.replay import load_trace, make_scaling, offline_arrivals, poisson_arrivals, replay
from agentrt.replay.report import short_kind

TRACE = "\n".join([
    '{"program_id": "p-a", "steps": [{"kind": "llm", "input_tokens": 100, "output_tokens": 10}, '
    '{"kind": "tool", "name": "bash", "duration_s": 2.0}, {"kind": "llm", "input_tokens": 150, "output_tokens": 20}]}',
    '{"program_id": "p-b", "steps": [{"kind": "llm", "input_tokens": 50, "output_tokens": 5}, '
    '{"kind": "tool", "name": "edit", "duration_s": null}, {"kind": "tool", "name": "bash", "duration_s": 0.5}, '
    '{"kind": "llm", "input_tokens": 70, "output_tokens": 5}]}',
]) + "\n"


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.jsonl"
    p.write_text(TRACE)
    return p


def test_replay_gives_exact_jcts_under_virtual_time(trace: Path) -> None:
    programs = load_trace(trace)
    engine = RecordingEngine(latency=lambda req: 0.01 * req.max_tokens)  # 10 ms per output token

    async def main() -> agentrt.replay.ReplayResult:
        return await replay(programs, engine, "fcfs", [0.0, 3.0], make_scaling(programs))

    result = agentrt.run(main)
    by_id = {m.trace_id: m for m in result.metrics}
    assert by_id["p-a"].jct == pytest.approx(0.1 + 2.0 + 0.2)
    assert by_id["p-b"].jct == pytest.approx(0.05 + 0.0 + 0.5 + 0.05)
    assert by_id["p-b"].arrival == pytest.approx(3.0)
    assert by_id["p-a"].generated_tokens == 30 and by_id["p-a"].token_latency == pytest.approx(2.3 / 30)
    assert result.summary.makespan == pytest.approx(3.6)
    # prompts extend the previous context: 100 -> 100 + 10 + 40 new = 150
    prompts = {r.call_id: r.prompt for r in engine.requests}
    a1, a2 = (prompts[c] for c in sorted(prompts) if c.startswith(by_id["p-a"].program_id + "."))
    assert (len(a1), len(a2)) == (100, 150)
    assert a2.block_hashes(16)[:6] == a1.block_hashes(16)[:6]


def test_replay_on_the_simulator_reuses_the_prefix(trace: Path) -> None:
    from agentrt.engine_adapters.sim import SimEngine

    programs = load_trace(trace)

    async def main() -> agentrt.replay.ReplayResult:
        return await replay(programs, SimEngine(), "agentrt", offline_arrivals(2), make_scaling(programs))

    a = agentrt.run(main)
    b = agentrt.run(main)
    assert [m.jct for m in a.metrics] == [m.jct for m in b.metrics]  # deterministic
    pa = next(m for m in a.metrics if m.trace_id == "p-a")
    assert pa.prefix_hit_tokens >= 96  # the second turn hits the first turn's full blocks
    assert all(m.status == "ok" for m in a.metrics)


def test_poisson_replay_is_reproducible(trace: Path) -> None:
    programs = load_trace(trace)

    async def main() -> list[float]:
        r = await replay(programs, RecordingEngine(latency=0.1), "plas", poisson_arrivals(2, 0.5, 3), make_scaling(programs))
        return [m.arrival for m in r.metrics]

    assert agentrt.run(main) == agentrt.run(main)


def test_bench_writes_json_markdown_and_png(trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    assert cli(["bench", str(trace), "--policies", "fcfs,agentrt", "--rates", "0.5,2", "--output", str(out)]) == 0
    data = json.loads((out / "results.json").read_text())
    assert {(r["policy"], r["rate"]) for r in data["runs"]} == {(p, r) for p in ("fcfs", "agentrt") for r in (0.5, 2.0)}
    assert all(r["summary"]["num_failed"] == 0 for r in data["runs"])
    md = (out / "results.md").read_text()
    assert "| 0.5 | fcfs |" in md and "| 2 | agentrt |" in md
    png = (out / "jct_vs_rate.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_replay_cli_writes_results(trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert cli(["replay", str(trace), "--policy", "continuum", "--offline", "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["config"]["offline"] is True and len(data["programs"]) == 2


def test_cli_bad_input_is_a_clear_error(trace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["bench", str(trace), "--policies", "fcfs,sjf", "--rates", "1"]) == 2
    assert "unknown policies ['sjf']" in capsys.readouterr().err
    assert cli(["replay", str(trace), "--rate", "-1"]) == 2
    assert "--rate must be > 0" in capsys.readouterr().err


def test_a_mixed_replay_reports_each_kind(trace: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Programs of two agents (two traces' sources): the summary and the JSON give each kind's JCT."""
    mixed = tmp_path / "mixed.jsonl"
    lines = TRACE.splitlines()
    mixed.write_text(lines[0].replace('{"program_id": "p-a",', '{"program_id": "p-a", "source": "swe-agent",') + "\n"
                     + lines[1].replace('{"program_id": "p-b",', '{"program_id": "p-b", "source": "bfcl-agent",') + "\n")
    out = tmp_path / "r.json"
    assert cli(["replay", str(mixed), "--offline", "--output", str(out)]) == 0
    data = json.loads(out.read_text())
    assert sorted(data["by_kind"]) == ["bfcl-agent", "swe-agent"]
    assert {p["kind"] for p in data["programs"]} == {"bfcl-agent", "swe-agent"}
    assert all(s["num_programs"] == 1 for s in data["by_kind"].values())
    shown = capsys.readouterr().out
    assert "kind bfcl-agent" in shown and "kind swe-agent" in shown
    assert short_kind("github:SWE-agent/mini-swe-agent@ec0e8e84 (refs/pull/816) output/x") == "SWE-agent/mini-swe-agent"
    assert short_kind("system:0123456789ab") == "system:0123456789ab" and len(short_kind("k" * 99)) == 32
    assert cli(["replay", str(trace), "--offline", "--output", str(out)]) == 0  # one kind: no breakdown
    assert "by_kind" not in json.loads(out.read_text())
