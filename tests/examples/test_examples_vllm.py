"""Every example runs as a script on real vLLM (`--engine vllm --model DIR`). Slow: marked `vllm`;
needs vllm, the adapter, and AGENTRT_TEST_MODEL naming a model folder (any chat model: the
examples finish whatever the model writes, at worst at their step or iteration limits)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.vllm
@pytest.mark.parametrize("name", ["quickstart", "swe_agent", "map_reduce", "tree_search"])
def test_example_runs_on_vllm(name: str) -> None:
    model = os.environ.get("AGENTRT_TEST_MODEL")
    if not model:
        pytest.skip("set AGENTRT_TEST_MODEL to a model folder to run the examples on vLLM")
    pytest.importorskip("vllm")
    try:
        from agentrt.engine_adapters.vllm import VLLMEngine  # noqa: F401
    except ImportError:
        pytest.skip("the vLLM adapter (agentrt.engine_adapters.vllm.VLLMEngine) is not available")
    done = subprocess.run([sys.executable, str(ROOT / "examples" / f"{name}.py"), "--engine", "vllm", "--model", model],
                          capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "JCT" in done.stdout
