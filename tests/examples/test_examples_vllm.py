"""Every example runs as a script on real vLLM (`--engine vllm --model DIR`) with the tiny test
model (random weights: the examples finish whatever it writes, at worst at their step or iteration
limits). Slow (one engine load per example): marked `vllm`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.vllm
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", ["quickstart", "swe_agent", "map_reduce", "tree_search"])
def test_example_runs_on_vllm(name: str, tiny_model: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py"), "--engine", "vllm",
                           "--model", str(tiny_model)], capture_output=True, text=True, cwd=ROOT, timeout=800)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "JCT" in done.stdout
