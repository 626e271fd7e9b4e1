"""Fixtures for the real-vLLM tests (test_vllm*.py): one tiny model per session, written into a
temporary folder by the `agentrt model tiny` command itself. The vLLM tests need no anyio
backend: each module runs its scenarios in one `agentrt.run(..., virtual_time=False)` (asyncio)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrt.cli import main as cli_main


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-llama")
    assert cli_main(["model", "tiny", str(folder)]) == 0
    return folder
