"""`ProgramService`: what a program-aware server does around each call, whatever serves the tokens.

Per request: name the program and the call it continues (identity.py) and, at its first request,
its kind (program_kind.py), register the call and compute the policy's inputs (programs.py), and,
when it answers, remember the answer for the next request's inference, tell the engine which tool
now runs, and end the program if the request said it was its last. In the background: end programs idle past their timeout. Ending a program aborts
its calls in flight and releases what the engine holds for it; nothing else is touched.

Both servers use it: the simulator's FastAPI app (app.py) and the vLLM server (vllm_server.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import anyio

from agentrt.engine_adapters.base import SchedHints
from agentrt.exceptions import EngineError
from agentrt.programs.tokens import Tokens
from agentrt.serve.identity import Digest, Identity, IdentityResolver
from agentrt.serve.metrics import ServeMetrics
from agentrt.serve.program_kind import declared_kind, program_kind
from agentrt.serve.programs import EndReason, ProgramTable, ServedCall, ServedProgram
from agentrt.serve.tracing import ProgramSpans

END_HEADER = "x-agentrt-program-end"
TOOL_TIME_HEADER = "x-agentrt-expected-tool-time"
_TRUE = {"1", "true", "yes", "on"}


@dataclass(slots=True)
class OpenCall:
    """A call between `open_call` and `close_call`."""

    identity: Identity
    call: ServedCall
    hints: SchedHints
    digests: list[Digest]
    parent_context: Tokens | None
    new_messages: Sequence[Mapping[str, Any]]
    last: bool
    prompt: str | None = None  # a /v1/completions prompt
    new_prompt: str = ""  # its text after what the parent call covers (all of it without a parent)


def header_value(text: str) -> str:
    """`text` for a response header: as it is when printable ASCII, else percent-encoded (a client
    may name its program in any characters; a header carries only Latin-1, and no line breaks)."""
    return text if text.isascii() and text.isprintable() else quote(text, safe="")


def tool_names_of(messages: Sequence[Mapping[str, Any]], start: int) -> tuple[str, ...]:
    """Names of the tools whose results `messages[start:]` carry: each `tool` message's call is
    looked up in the assistant `tool_calls` before it (or the message's own `name`)."""
    by_id: dict[str, str] = {}
    names: list[str] = []
    for i, message in enumerate(messages):
        for c in message.get("tool_calls") or ():
            if isinstance(c, Mapping) and c.get("id"):
                by_id[str(c["id"])] = str((c.get("function") or {}).get("name", "tool"))
        if i >= start and message.get("role") == "tool":
            name = by_id.get(str(message.get("tool_call_id")), message.get("name"))
            if name:
                names.append(str(name))
    return tuple(names)


def _expected_tool_time(headers: Mapping[str, str]) -> float | None:
    value = headers.get(TOOL_TIME_HEADER)
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


async def _tell_engine(message: Awaitable[None]) -> None:
    """Send an abort, release or hint; an engine that has died holds nothing more to free."""
    try:
        await message
    except EngineError:
        pass


class ProgramService:
    """Program bookkeeping for a server. `abort(call_id)` and `release(program_id)` reach the engine;
    `now()` is the server's clock (simulated seconds on the simulator)."""

    def __init__(self, table: ProgramTable, resolver: IdentityResolver, metrics: ServeMetrics, *,
                 now: Callable[[], float], abort: Callable[[str], Awaitable[None]],
                 release: Callable[[str], Awaitable[None]],
                 hint_tool: Callable[[str, str, tuple[float, ...]], Awaitable[None]] | None = None) -> None:
        self.table, self.resolver, self.metrics = table, resolver, metrics
        self.now, self._abort, self._release, self._hint_tool = now, abort, release, hint_tool
        self.spans = ProgramSpans()

    def open_call(self, headers: Mapping[str, str], body: Mapping[str, Any],
                  messages: Sequence[Mapping[str, Any]], prompt: str | None = None) -> OpenCall:
        """Register a request's call. `messages` is the chat conversation; a /v1/completions
        request passes [] and its `prompt`. Raises ServeError (400) for a bad kind header, before
        anything is registered."""
        declared = declared_kind(headers)
        if prompt is None:
            identity, digests = self.resolver.resolve(headers, body, messages)
        else:
            identity, digests = self.resolver.resolve_prompt(headers, body, prompt), []
        tools = tool_names_of(messages, identity.num_parent_messages)
        now = self.now()
        program_existed = identity.program_id in self.table.active
        num_gaps = len(self.table.active[identity.program_id].gaps) if program_existed else 0
        kind = None if program_existed else program_kind(declared, messages)
        call, hints = self.table.begin_call(identity, now, tools, _expected_tool_time(headers), kind)
        program = self.table.active[identity.program_id]
        if not program_existed:
            self.spans.program_started(program)
        if len(program.gaps) > num_gaps:
            self.metrics.tool_gap.observe(program.gaps[-1])
            self.spans.tool_gap(program, program.gaps[-1], tools)
        self.spans.call_started(call)
        if prompt is None:
            self.resolver.remember_request(digests, call.program_id, call.call_id)
        else:
            self.resolver.remember_prompt(prompt, None, call.program_id, call.call_id)
        parent = self.table.call(identity.parent_call_id) if identity.parent_call_id else None
        context = None if parent is None else parent.context if identity.parent_answered else parent.prompt
        covered = identity.num_parent_messages if context is not None else 0
        return OpenCall(identity, call, hints, digests, context, messages[covered:],
                        headers.get(END_HEADER, "").lower() in _TRUE, prompt, (prompt or "")[covered:])

    async def close_call(self, open_call: OpenCall, answer: Mapping[str, Any] | None, service_time: float,
                         context: Tokens | None, tool_names: Sequence[str] = (), completion: str | None = None) -> None:
        """The call answered with the assistant message `answer` (chat) or the text `completion`
        (/v1/completions)."""
        call = open_call.call
        self.table.finish_call(call.call_id, self.now(), service_time, context)
        self.spans.call_finished(call, ok=True)
        if answer is not None:
            self.resolver.remember(open_call.digests, answer, call.program_id, call.call_id)
        if open_call.prompt is not None and completion is not None:
            self.resolver.remember_prompt(open_call.prompt, completion, call.program_id, call.call_id)
        if open_call.last:
            await self.end_program(call.program_id, EndReason.LAST_CALL)
            return
        if self._hint_tool is not None:
            for name in tool_names:
                await _tell_engine(self._hint_tool(call.program_id, name,
                                                   self.table.predictor.gap_samples(call.program_id, name)))

    async def fail_call(self, open_call: OpenCall, *, abort: bool) -> None:
        """The call failed, or its client went away (`abort`: tell the engine). Shielded."""
        with anyio.CancelScope(shield=True):
            if abort:
                await _tell_engine(self._abort(open_call.call.call_id))
            self.table.fail_call(open_call.call.call_id, self.now())
            self.spans.call_finished(open_call.call, ok=False)

    async def end_program(self, program_id: str, reason: EndReason) -> ServedProgram | None:
        """End a program: abort its calls in flight, release its KV. None if it is not active."""
        program = self.table.end_program(program_id, self.now(), reason)
        if program is None:
            return None
        with anyio.CancelScope(shield=True):
            for call_id in sorted(program.in_flight):
                await _tell_engine(self._abort(call_id))
            await _tell_engine(self._release(program_id))
        program.in_flight.clear()  # aborted: none of its calls runs any more
        self.resolver.forget_program(program_id)
        if program.jct is not None:
            self.metrics.program_jct.observe(program.jct)
        self.metrics.programs_ended.labels(reason.value).inc()
        self.spans.program_ended(program)
        return program

    async def reap_idle(self, period: float) -> None:
        """Forever: every `period` seconds of the caller's loop, end the programs idle past their
        timeout (judged on `now()`)."""
        while True:
            await anyio.sleep(period)
            for program_id in self.table.idle_programs(self.now()):
                await self.end_program(program_id, EndReason.IDLE)

    async def shutdown(self) -> None:
        for program_id in list(self.table.active):
            await self.end_program(program_id, EndReason.SHUTDOWN)
