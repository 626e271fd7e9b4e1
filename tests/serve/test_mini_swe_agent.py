"""mini-swe-agent, unmodified, against `agentrt serve --engine sim`: several instances at once, no
program header, its local environment running the commands (tests/serve/mini_swe_agent_driver.py,
a process of its own as a user would run it). The server must find each instance as one program,
with that instance's number of calls, and learn the tool gaps between them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve_process import programs, running_server

MODEL = "sim-llama"
STEPS = (2, 3, 4, 5)  # one instance each, run at once
DRIVER = Path(__file__).with_name("mini_swe_agent_driver.py")


def _run_agents(url: str, workdir: Path, step_limit: int, max_format_errors: int, tasks: list[str]) -> list[str]:
    out = subprocess.run([sys.executable, str(DRIVER), url, MODEL, str(workdir), str(step_limit),
                          str(max_format_errors), *tasks], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.fixture(scope="module")
def responder_url() -> Iterator[str]:
    with running_server("--responder", "tests/serve/responders.py:mini_swe_agent", "--served-model-name", MODEL,
                        "--time-scale", "1") as base:
        yield base


@pytest.fixture(scope="module")
def filler_url() -> Iterator[str]:
    with running_server("--served-model-name", MODEL, "--time-scale", "1") as base:
        yield base


def test_instances_at_once_are_found_as_programs_with_their_calls_and_gaps(responder_url: str, tmp_path: Path) -> None:
    tasks = [f"Instance {i}: print the step number, steps={n}." for i, n in enumerate(STEPS)]
    assert _run_agents(responder_url, tmp_path, 20, 3, tasks) == ["Submitted"] * len(STEPS)
    seen = list(programs(responder_url).values())
    assert len(seen) == len(STEPS)
    assert sorted(p["num_calls"] for p in seen) == sorted(STEPS)
    for p in seen:
        n = p["num_calls"]
        assert p["identified_by"] == "new" and p["inferred"] is True
        assert len(p["tool_gaps"]) == n - 1 and all(gap > 0 for gap in p["tool_gaps"])
        assert p["tool_names"] == {"bash": n - 1}
        assert p["max_parallel_calls"] == 1 and p["num_branch_calls"] == 0


def test_filler_answers_run_each_instance_to_its_step_limit(filler_url: str, tmp_path: Path) -> None:
    limit = 3
    tasks = [f"Instance {i}: do something." for i in range(4)]
    assert _run_agents(filler_url, tmp_path, limit, 0, tasks) == ["LimitsExceeded"] * 4
    seen = list(programs(filler_url).values())
    assert len(seen) == 4  # retries after format errors continue the program without the dropped answer
    assert [p["num_calls"] for p in seen] == [limit] * 4
    assert all(len(p["tool_gaps"]) == limit - 1 and p["tool_names"] == {} for p in seen)
