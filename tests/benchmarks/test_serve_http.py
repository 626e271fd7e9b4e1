"""benchmarks/serve_http.py end to end on a small slice: the trace replayed as HTTP clients without
program headers is found as exactly its programs with exactly their calls, each call's overhead is
measured; and the overhead mode's figures are the right ones (server time within the round trip)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "serve_http.py"


def _run(tmp_path: Path, *args: str) -> dict[str, object]:
    out = tmp_path / "out.json"
    subprocess.run([sys.executable, str(SCRIPT), *args, "--output", str(out)], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, timeout=600)
    return dict(json.loads(out.read_text()))


def test_replay_without_headers_finds_each_program_with_its_calls(tmp_path: Path) -> None:
    result = _run(tmp_path, "--limit", "2", "--rate", "1", "--time-scale", "100", "--modes", "inferred",
                  "--policies", "agentrt")
    run = result["runs"]["agentrt/inferred"]  # type: ignore[index]
    assert run["programs_found"] == run["programs_in_trace"] == 2
    assert run["calls_found"] == run["calls_in_trace"] and run["programs_with_trace_calls"] is True
    assert run["overhead"]["p50_ms"] > 0


def test_overhead_separates_the_server_and_the_engine(tmp_path: Path) -> None:
    row = _run(tmp_path, "--overhead", "4", "--calls", "3")["4"]
    assert row["calls"] == 12  # type: ignore[index]
    client, server = row["client_observed"], row["server_side"]  # type: ignore[index]
    assert 0 <= server["p50_ms"] <= client["p50_ms"] and row["engine"]["p50_ms"] > 0  # type: ignore[index]
    assert row["server_thread_cpu_ms_per_call"] > 0  # type: ignore[index]
