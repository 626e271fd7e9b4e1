"""Responders for `agentrt serve --responder tests/serve/responders.py:NAME` in the tests."""

from __future__ import annotations

import re
from typing import Any


def echo(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
    """Answer with the last message's text, reversed word by word."""
    content = messages[-1].get("content") or ""
    text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
    return " ".join(reversed(text.split())) or "empty"


def mini_swe_agent(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> dict[str, Any]:
    """mini-swe-agent's action format (a `bash` tool call): `echo step N` until the task's
    `steps=K` is reached, then the command that submits. K comes from the task text."""
    task = next(m["content"] for m in messages if m["role"] == "user")
    steps = int(re.search(r"steps=(\d+)", task).group(1))  # type: ignore[union-attr]
    done = sum(1 for m in messages if m["role"] == "assistant")
    command = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT" if done + 1 >= steps else f"echo step {done + 1}"
    return {"content": f"Step {done + 1} of {steps}.", "tool_calls": [{"name": "bash", "arguments": {"command": command}}]}
