"""Which program an HTTP request belongs to, and which earlier call it continues.

A request names its program explicitly when it can, in this order: our header
`X-Agentrt-Program`; the ecosystem's conventions (`X-Session-ID` as NeMo Gym, `x-fairness-id` as
llm-d, the body's `prompt_cache_key` as OpenAI, `vllm_xargs.program_id` as vLLM's router,
`agent_hint.session_id` as vLLM RFC #52113). Agents that send none of these (mini-swe-agent,
most loops over the OpenAI SDK) are identified by their conversation: every request carries the
whole conversation so far, so a request whose messages start with an earlier request's messages
plus that request's answer continues that request's program.

Continuation is found with a hash chain over message prefixes: `d[i] = H(d[i-1], message[i])`, so
each prefix of a conversation has one digest, computed in O(messages) per request. When a call
answers, the digest of its messages plus its answer is registered; a new request looks up its
prefix digests from the longest down. A request's own messages are registered too: agents drop an
answer they could not parse and ask again with an error message appended (mini-swe-agent's
format errors), and that retry continues the program without containing the answer. The longest
registered prefix wins, so a request that carries the answer follows the answer. Alternatives considered: comparing against every live
conversation (O(programs x messages) per request) and hashing only the first message (collides
whenever two agents get the same task and system prompt).

The chain also finds the parent call of a request whose program is named explicitly, so both ways
of naming a program give the same call DAG (a branch is a second request extending the same call).
/v1/completions prompts are matched the same way on text (prompt_index.py): a prompt that starts
with an earlier prompt plus its completion continues that call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

from agentrt.serve.prompt_index import PromptIndex

# (where, key): headers are matched case-insensitively; body paths are (field,) or (field, subfield)
EXPLICIT_SOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("header", ("x-agentrt-program",)),
    ("header", ("x-session-id",)),
    ("header", ("x-fairness-id",)),
    ("body", ("prompt_cache_key",)),
    ("body", ("vllm_xargs", "program_id")),
    ("body", ("agent_hint", "session_id")),
)
INFERRED = "inferred"
NEW = "new"

Digest = bytes


@dataclass(slots=True, frozen=True)
class Identity:
    """The program of one request and the call it continues.

    source: `header:<name>` or `body:<path>` when named explicitly, `inferred` when it continues
        a registered answer, `new` when it starts an unnamed program.
    parent_call_id: the call whose messages (+ answer) this request starts with (None: none found).
    num_parent_messages: how many of this request's messages the parent covers (for a completions
        prompt: how many of its characters).
    parent_answered: the covered messages end with the parent's answer (else: with its request).
    """

    program_id: str
    source: str
    parent_call_id: str | None = None
    num_parent_messages: int = 0
    parent_answered: bool = True

    @property
    def explicit(self) -> bool:
        return self.source not in (INFERRED, NEW)


def explicit_program_id(headers: Mapping[str, str], body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(program id, source) from the first convention the request uses, or None."""
    lower = {k.lower(): v for k, v in headers.items()}
    for where, path in EXPLICIT_SOURCES:
        value: Any = lower.get(path[0]) if where == "header" else body.get(path[0])
        for key in path[1:]:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip(), f"{where}:{'.'.join(path)}"
    return None


def content_text(content: Any) -> str:
    """A message's text: its content string, or the text of its content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # content parts: only their text identifies the message
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return str(content)


def _arguments(arguments: Any) -> Any:
    """Tool-call arguments compared by value: clients re-serialize the JSON string they got."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def message_key(message: Mapping[str, Any]) -> bytes:
    """The identifying part of a message: role, text, tool calls (name, arguments) and tool_call_id.
    Fields clients add or drop on the way back (ids of content parts, `refusal`, extra keys) are left out.
    Each part is length-prefixed, so no text can pass for another split; only tool calls go through
    JSON (their arguments compared by value), the common message costs no encoder call."""
    text = content_text(message.get("content")).strip()
    call_id = str(message.get("tool_call_id") or "")
    role = str(message.get("role"))
    key = f"{len(role)}:{role}|{len(text)}:{text}|{len(call_id)}:{call_id}"
    raw_calls = message.get("tool_calls")
    if raw_calls:
        calls = [((c.get("function") or {}).get("name"), _arguments((c.get("function") or {}).get("arguments")))
                 for c in raw_calls if isinstance(c, Mapping)]
        key += "|" + json.dumps(calls, sort_keys=True, default=str)
    return key.encode()


def chain(messages: Sequence[Mapping[str, Any]], start: Digest = b"") -> list[Digest]:
    """Digests of every prefix: `out[i]` covers messages[0..i]."""
    out: list[Digest] = []
    digest = start
    for message in messages:
        digest = hashlib.blake2b(digest + message_key(message), digest_size=16).digest()
        out.append(digest)
    return out


class ConversationIndex:
    """Prefix digests -> (program id, call id, ends with the answer), bounded (oldest dropped first)."""

    def __init__(self, max_entries: int = 1 << 20) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries={max_entries} must be >= 1")
        self.max_entries = max_entries
        self._entries: dict[Digest, tuple[str, str, bool]] = {}
        self._program_digests: dict[str, list[Digest]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, digest: Digest, program_id: str, call_id: str, answered: bool = True) -> None:
        """Register the digest of a call's messages plus its answer (or of its messages alone)."""
        if digest not in self._entries and len(self._entries) >= self.max_entries:
            oldest = next(iter(self._entries))
            del self._entries[oldest]
        self._entries[digest] = (program_id, call_id, answered)
        self._program_digests.setdefault(program_id, []).append(digest)

    def match(self, digests: Sequence[Digest]) -> tuple[int, str, str, bool] | None:
        """(messages covered, program id, call id, answered) of the longest registered prefix."""
        for i in range(len(digests) - 1, -1, -1):
            hit = self._entries.get(digests[i])
            if hit is not None:
                return i + 1, *hit
        return None

    def forget_program(self, program_id: str) -> None:
        for digest in self._program_digests.pop(program_id, ()):
            if self._entries.get(digest, ("",))[0] == program_id:
                del self._entries[digest]


class IdentityResolver:
    """Names the program of each request (explicitly or by its conversation) and remembers answers.

    `resolve` costs O(messages) digests plus one dict lookup per message."""

    def __init__(self, index: ConversationIndex | None = None, prefix: str = "prog-") -> None:
        self.index = index if index is not None else ConversationIndex()
        self.prompts = PromptIndex()
        self._prefix = prefix
        self._ids = count(1)

    def resolve(self, headers: Mapping[str, str], body: Mapping[str, Any],
                messages: Sequence[Mapping[str, Any]]) -> tuple[Identity, list[Digest]]:
        """The request's identity and its prefix digests (pass them to `remember`)."""
        digests = chain(messages)
        named = explicit_program_id(headers, body)
        hit = self.index.match(digests[:-1]) if digests else None  # the last message is new
        if named is not None:
            program_id, source = named
            if hit is not None and hit[1] == program_id:
                return Identity(program_id, source, hit[2], hit[0], hit[3]), digests
            return Identity(program_id, source), digests
        if hit is not None:
            return Identity(hit[1], INFERRED, hit[2], hit[0], hit[3]), digests
        return Identity(f"{self._prefix}{next(self._ids)}", NEW), digests

    def resolve_prompt(self, headers: Mapping[str, str], body: Mapping[str, Any], prompt: str) -> Identity:
        """The identity of a /v1/completions request: named, else the call whose prompt (+ completion)
        `prompt` starts with, else a new program."""
        named = explicit_program_id(headers, body)
        hit = self.prompts.match(prompt)
        if named is not None:
            if hit is not None and hit.program_id == named[0]:
                return Identity(named[0], named[1], hit.call_id, hit.num_chars, hit.answered)
            return Identity(*named)
        if hit is not None:
            return Identity(hit.program_id, INFERRED, hit.call_id, hit.num_chars, hit.answered)
        return Identity(f"{self._prefix}{next(self._ids)}", NEW)

    def remember_prompt(self, prompt: str, completion: str | None, program_id: str, call_id: str) -> None:
        """A completions call arrived (`completion` None: a retry repeating its prompt continues it)
        or answered (a prompt starting with `prompt + completion` continues it)."""
        text = prompt if completion is None else prompt + completion
        self.prompts.add(text, program_id, call_id, answered=completion is not None)

    def remember_request(self, digests: Sequence[Digest], program_id: str, call_id: str) -> None:
        """A call arrived: a later request starting with its messages (a retry) continues it."""
        if digests:
            self.index.add(digests[-1], program_id, call_id, answered=False)

    def remember(self, digests: Sequence[Digest], answer: Mapping[str, Any], program_id: str, call_id: str) -> None:
        """A call answered: a later request starting with its messages + `answer` continues it."""
        start = digests[-1] if digests else b""
        self.index.add(chain([answer], start)[0], program_id, call_id)

    def forget_program(self, program_id: str) -> None:
        self.index.forget_program(program_id)
        self.prompts.forget_program(program_id)
