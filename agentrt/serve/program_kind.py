"""The kind of a served program: which agent it is, for the gate that learns sizes per kind
(runtime/scheduling/policies/kinds.py).

Decided once, at the program's first request: the client's `X-Agentrt-Program-Kind` header when it
sends one; else, for a chat conversation, a digest of its leading system (or developer) message,
`system:<12 hex digits>`: agents of one kind share their system prompt (mini-swe-agent's is a fixed
template; the task comes in the user message), so programs of one agent get one kind without the
agent being changed; else None (unknown: the gate treats the program as before kinds existed).
A /v1/completions prompt has no system message: only the header names its kind.
Alternatives considered: the model name (one model serves many agents) and the first user message
(it carries the task, so every program would be a kind of its own).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from agentrt.exceptions import ServeError
from agentrt.serve.identity import content_text

KIND_HEADER = "x-agentrt-program-kind"
_HEADER_NAME = "X-Agentrt-Program-Kind"
MAX_KIND_LENGTH = 128
_SYSTEM_ROLES = ("system", "developer")


def declared_kind(headers: Mapping[str, str]) -> str | None:
    """The kind the request's header names (None: no header, or a blank one).
    Raises ServeError (400) for a value over MAX_KIND_LENGTH characters or with unprintable ones."""
    value = (headers.get(KIND_HEADER) or "").strip()
    if not value:
        return None
    if len(value) > MAX_KIND_LENGTH:
        raise ServeError(400, f"{_HEADER_NAME} is {len(value)} characters long; at most {MAX_KIND_LENGTH} are "
                         "allowed: name the agent (e.g. mini-swe-agent), not the task", param=_HEADER_NAME,
                         code="invalid_program_kind")
    if not value.isprintable():
        raise ServeError(400, f"{_HEADER_NAME} must be printable characters (got {value[:50]!r}): name the agent "
                         "(e.g. mini-swe-agent)", param=_HEADER_NAME, code="invalid_program_kind")
    return value


def system_prompt_kind(messages: Sequence[Mapping[str, Any]]) -> str | None:
    """`system:<digest>` of the conversation's leading system or developer message (None: it has none,
    or an empty one)."""
    if not messages or messages[0].get("role") not in _SYSTEM_ROLES:
        return None
    text = content_text(messages[0].get("content")).strip()
    if not text:
        return None
    return "system:" + hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


def program_kind(declared: str | None, messages: Sequence[Mapping[str, Any]]) -> str | None:
    """A new program's kind: the one its header declared (`declared_kind`), else its system prompt's,
    else None."""
    return declared or system_prompt_kind(messages)
