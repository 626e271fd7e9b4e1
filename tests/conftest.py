"""Shared fixtures: the anyio backends.

Tests marked `anyio` run on asyncio and on trio with a virtual clock
(`MockClock(autojump_threshold=0)`: sleeps take no wall time). Tests that check exact times are
also marked `virtual_time` and run on trio only.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from trio.testing import MockClock


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, object]]:
    if request.param == "trio":
        return ("trio", {"clock": MockClock(autojump_threshold=0)})
    return ("asyncio", {})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        on_asyncio = params is not None and params.params.get("anyio_backend") == "asyncio"
        (drop if on_asyncio and item.get_closest_marker("virtual_time") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight Llama with a locally trained tokenizer, written once per session by
    the `agentrt model tiny` command itself (for the real-vLLM tests)."""
    from agentrt.cli import main as cli_main

    folder = tmp_path_factory.mktemp("tiny-llama")
    assert cli_main(["model", "tiny", str(folder)]) == 0
    return folder
