"""`@tool`: schema and description from the signature and docstring, options checked when
decorating, the registry, and what a running tool knows about its call."""

from __future__ import annotations

import pytest

import agentrt
from agentrt.engine_adapters.testing import RecordingEngine
from agentrt.exceptions import DecorationError, UnknownNameError
from agentrt.tools import ToolCallInfo, annotate_call, current_tool_call, get_tool, registered_tools


@agentrt.tool
def grep_repo(pattern: str, max_hits: int = 20, paths: list[str] | None = None) -> list[str]:
    """Search the repository for a regular expression.

    Returns matching lines as `path:line: text`."""
    return []


def test_schema_and_description_come_from_signature_and_docstring() -> None:
    spec = grep_repo.spec()
    assert spec["name"] == "grep_repo"
    assert spec["description"] == "Search the repository for a regular expression."
    params = spec["parameters"]
    assert params["required"] == ["pattern"]
    assert params["properties"]["pattern"] == {"type": "string"}
    assert params["properties"]["max_hits"] == {"type": "integer", "default": 20}
    assert params["properties"]["paths"]["default"] is None


def test_registry_holds_decorated_and_builtin_tools() -> None:
    assert get_tool("grep_repo") is grep_repo
    assert {"bash", "python", "grep_repo"} <= set(registered_tools())
    with pytest.raises(UnknownNameError, match="valid tools: .*bash"):
        get_tool("nope")


def test_options_are_checked_when_decorating() -> None:
    with pytest.raises(DecorationError, match="valid options"):
        agentrt.tool(retries=3)
    with pytest.raises(DecorationError, match="timeout must be > 0"):
        agentrt.tool(timeout=0)(lambda: None)


@agentrt.tool
async def introspect(tag: str) -> str:
    info = current_tool_call()
    assert info is not None
    annotate_call(tag=tag)
    return f"{info.tool_name}:{info.call_id}:{info.attributes['tag']}"


@agentrt.tool
def introspect_in_thread() -> str:
    info = current_tool_call()
    return info.call_id if info is not None else "none"


@pytest.mark.anyio
async def test_a_running_tool_knows_its_call(anyio_backend: object) -> None:
    @agentrt.program
    async def prog() -> list[str]:
        return list(await agentrt.gather(introspect("a"), introspect("b"), introspect_in_thread()))

    async with agentrt.Runtime(engine=RecordingEngine()) as rt:
        assert await rt.submit(prog) == ["introspect:p1.1:a", "introspect:p1.2:b", "p1.3"]
    assert current_tool_call() is None
    annotate_call(ignored=True)  # outside a tool call: a no-op
    assert ToolCallInfo("x").attributes == {}
