"""Shared fixtures: the anyio backends.

Tests marked `anyio` run on asyncio and on trio with a virtual clock
(`MockClock(autojump_threshold=0)`: sleeps take no wall time). Tests that check exact times are
also marked `virtual_time` and run on trio only.
"""

from __future__ import annotations

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
