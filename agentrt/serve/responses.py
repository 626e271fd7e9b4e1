"""The simulator server's answers: what the model "says" (a responder, or filler) and the OpenAI
response bodies and stream chunks around it.

A responder is `responder(messages, tools) -> str | dict`: the chat messages (dicts as sent) and
the request's tools. A dict may carry `content` and `tool_calls`: a list of
`{"name": ..., "arguments": dict | str}`. Loaded from `FILE:FUNCTION` by `agentrt serve --responder`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentrt.engine_adapters.base import GenerationRequest, GenerationResult, Message, filler_text
from agentrt.exceptions import ConfigError

Responder = Callable[[list[dict[str, Any]], list[dict[str, Any]] | None], "str | dict[str, Any]"]


@dataclass(slots=True, frozen=True)
class Reply:
    """The model's answer before the engine prices it: text and tool calls (name, JSON arguments)."""

    content: str | None
    tool_calls: tuple[tuple[str, str], ...] = ()

    @property
    def text(self) -> str:
        """Everything the model writes (its length is the number of output tokens)."""
        calls = " ".join(f"{name} {args}" for name, args in self.tool_calls)
        return " ".join(x for x in (self.content or "", calls) if x)

    def message(self, call_id: str) -> dict[str, Any]:
        """The assistant message as the client will send it back."""
        message: dict[str, Any] = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = [{"id": f"call_{call_id}_{i}", "type": "function",
                                      "function": {"name": name, "arguments": args}}
                                     for i, (name, args) in enumerate(self.tool_calls)]
        return message


def make_reply(raw: str | Mapping[str, Any]) -> Reply:
    """A responder's return value as a Reply. Raises ConfigError for another shape."""
    if isinstance(raw, str):
        return Reply(raw)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a responder returns a str or a dict with content/tool_calls, got {type(raw).__name__}")
    calls = []
    for call in raw.get("tool_calls") or ():
        args = call.get("arguments", {})
        calls.append((str(call["name"]), args if isinstance(args, str) else json.dumps(args)))
    content = raw.get("content")
    return Reply(None if content is None else str(content), tuple(calls))


def finish_reason(reply: Reply, result: GenerationResult) -> str:
    if reply.tool_calls and result.finish_reason == "stop":
        return "tool_calls"
    return result.finish_reason


def usage(result: GenerationResult) -> dict[str, Any]:
    return {"prompt_tokens": result.num_prompt_tokens, "completion_tokens": result.num_output_tokens,
            "total_tokens": result.num_prompt_tokens + result.num_output_tokens,
            "prompt_tokens_details": {"cached_tokens": result.num_cached_tokens}}


def chat_body(call_id: str, model: str, reply: Reply, message: dict[str, Any], result: GenerationResult) -> dict[str, Any]:
    return {"id": f"chatcmpl-{call_id}", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason(reply, result),
                         "logprobs": None}],
            "usage": usage(result)}


def completion_body(call_id: str, model: str, text: str, result: GenerationResult) -> dict[str, Any]:
    return {"id": f"cmpl-{call_id}", "object": "text_completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "text": text, "finish_reason": result.finish_reason, "logprobs": None}],
            "usage": usage(result)}


def sse(data: Mapping[str, Any] | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data)}\n\n"


def chat_chunk(call_id: str, model: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": f"chatcmpl-{call_id}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}


def chat_chunks(call_id: str, model: str, reply: Reply, message: dict[str, Any], result: GenerationResult,
                include_usage: bool) -> list[str]:
    """The stream after the first (role) chunk: content, tool calls, the finish, usage, [DONE]."""
    out = []
    if reply.content:
        out.append(sse(chat_chunk(call_id, model, {"content": reply.content})))
    for i, call in enumerate(message.get("tool_calls", ())):
        out.append(sse(chat_chunk(call_id, model, {"tool_calls": [{"index": i, **call}]})))
    out.append(sse(chat_chunk(call_id, model, {}, finish_reason(reply, result))))
    if include_usage:
        out.append(sse({"id": f"chatcmpl-{call_id}", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": model, "choices": [], "usage": usage(result)}))
    out.append(sse("[DONE]"))
    return out


def completion_chunks(call_id: str, model: str, text: str, result: GenerationResult, include_usage: bool) -> list[str]:
    base = {"id": f"cmpl-{call_id}", "object": "text_completion", "created": int(time.time()), "model": model}
    out = [sse(base | {"choices": [{"index": 0, "text": text, "finish_reason": None, "logprobs": None}]}),
           sse(base | {"choices": [{"index": 0, "text": "", "finish_reason": result.finish_reason, "logprobs": None}]})]
    if include_usage:
        out.append(sse(base | {"choices": [], "usage": usage(result)}))
    out.append(sse("[DONE]"))
    return out


def messages_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text the simulator tokenizes for messages (roles framed as in `prompt_to_tokens`)."""
    parts = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
        calls = "".join(f" {(c.get('function') or {}).get('name')} {(c.get('function') or {}).get('arguments')}"
                        for c in m.get("tool_calls") or ())
        parts.append(f"<|{m.get('role')}|>{content or ''}{calls}\n")
    return "".join(parts)


def chat_prompt(messages: Sequence[Mapping[str, Any]]) -> tuple[Message, ...]:
    """The conversation as a real engine's prompt (its chat template renders it): content parts
    joined into text, an assistant's tool calls written after its content as `name arguments`."""
    out = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list):
            content = "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
        calls = [f"{(c.get('function') or {}).get('name')} {(c.get('function') or {}).get('arguments')}"
                 for c in m.get("tool_calls") or ()]
        message = {"role": str(m.get("role")), "content": " ".join(x for x in (content or "", *calls) if x)}
        message |= {k: str(m[k]) for k in ("name", "tool_call_id") if m.get(k) is not None}
        out.append(message)
    return tuple(out)


def engine_text(request: GenerationRequest) -> str:
    """The simulator's responder under the server: the reply the server computed for the call."""
    return str((request.extra or {}).get("text") or filler_text(request.max_tokens))
