"""`ProgramMiddleware`: agentrt's program layer in front of vLLM's own OpenAI server.

vLLM's server (chat templates, tool-call and reasoning parsers, streaming, logprobs) runs as it
is, installed with its `--middleware` option; agentrt's scheduler runs inside its engine through
`scheduler_cls`. For each `/v1/chat/completions` and `/v1/completions` request this middleware
names the program and the call it continues (service.py, the same component the simulator
server uses), and adds the call's metadata to the body as `vllm_xargs["agentrt"]` (JSON text:
vLLM accepts only flat values there), which vLLM hands to the scheduler as
`SamplingParams.extra_args`, where the plugin reads it (`records.parse_meta`). The answer (JSON,
or the SSE stream put back together) is remembered for the next request's inference, and the
tools it calls are hinted to the plugin through `collective_rpc` (control.py).

It also serves agentrt's `GET /v1/programs[/{id}]` and `DELETE /v1/programs/{id}`: ending a
program releases its pins in the plugin and aborts its calls in flight. A call cannot be aborted in
vLLM by agentrt's call id, so the middleware cancels the call's own request handling instead, which
is what vLLM does to a request whose client disconnects (its `generate` aborts the request in the
engine when cancelled); the client gets a 409 in OpenAI's error shape (or, mid-stream, an error
event). Times are `time.monotonic()`, the plugin's clock.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio

from agentrt.engine_adapters.vllm.control import METHOD, ControlOp
from agentrt.engine_adapters.vllm.records import META_KEY, CallRecord, call_meta
from agentrt.runtime.scheduling.predictor import ToolLatencyPredictor
from agentrt.serve.identity import IdentityResolver
from agentrt.serve.metrics import ServeMetrics
from agentrt.serve.programs import EndReason, ProgramTable
from agentrt.serve.service import OpenCall, ProgramService, header_value

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_CALL_PATHS = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}


class _Answer:
    """The assistant message of a response, from its JSON body or put together from SSE chunks."""

    def __init__(self, streaming: bool) -> None:
        self.streaming = streaming
        self.body = bytearray()
        self.content: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.record: CallRecord | None = None

    def feed(self, chunk: bytes) -> None:
        self.body += chunk
        if not self.streaming:
            return
        *events, rest = self.body.split(b"\n\n")
        self.body = bytearray(rest)
        for event in events:
            data = event.strip().removeprefix(b"data:").strip()
            if data and data != b"[DONE]":
                self._delta(json.loads(data))

    def _delta(self, chunk: dict[str, Any]) -> None:
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            self.content.append(delta.get("content") or choice.get("text") or "")
            for call in delta.get("tool_calls") or ():
                slot = self.tool_calls.setdefault(call.get("index", 0), {"id": None, "name": "", "arguments": ""})
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""

    def message(self) -> dict[str, Any] | None:
        """The assistant message (None for completions or an unreadable body)."""
        if not self.streaming:
            try:
                body = json.loads(self.body)
            except ValueError:
                return None
            self.record = CallRecord.from_output(body.get("kv_transfer_params"))
            choices = body.get("choices") or [{}]
            return choices[0].get("message")
        calls = [{"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
                 for _, c in sorted(self.tool_calls.items())]
        return {"role": "assistant", "content": "".join(self.content) or None, **({"tool_calls": calls} if calls else {})}

    def text(self) -> str | None:
        """The text of a /v1/completions answer (None for an unreadable body)."""
        if self.streaming:
            return "".join(self.content)
        try:
            text = (json.loads(self.body).get("choices") or [{}])[0].get("text")
        except (ValueError, AttributeError):
            return None
        return text if isinstance(text, str) else None


class ProgramMiddleware:
    """ASGI middleware for vLLM's OpenAI server (`--middleware agentrt.serve.vllm_middleware.ProgramMiddleware`)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self.engine_client: Any = None
        self._handling: dict[str, anyio.CancelScope] = {}  # call id -> its request handling, while it runs
        self.service = ProgramService(ProgramTable(ToolLatencyPredictor()), IdentityResolver(), ServeMetrics(),
                                      now=time.monotonic, abort=self._abort, release=self._release,
                                      hint_tool=self._hint_tool)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.engine_client is None and "app" in scope:
            self.engine_client = getattr(scope["app"].state, "engine_client", None)
        path, method = scope["path"], scope["method"]
        if path.startswith("/v1/programs"):
            await self._programs(path, method, send)
        elif method == "POST" and path in _CALL_PATHS:
            await self._call(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # -- calls ------------------------------------------------------------------------------------
    async def _call(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await _read_body(receive)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):  # vLLM answers malformed bodies in OpenAI's shape itself
            await self.app(scope, _replay(raw, receive), send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        raw_messages = body.get("messages")
        messages = [m for m in raw_messages if isinstance(m, dict)] if isinstance(raw_messages, list) else []
        prompt = body.get("prompt") if scope["path"] == "/v1/completions" else None
        call = self.service.open_call(headers, body, messages, prompt if isinstance(prompt, str) else None)
        raw_xargs = body.get("vllm_xargs")
        xargs: dict[str, Any] = raw_xargs if isinstance(raw_xargs, dict) else {}
        meta = call_meta(call.call.call_id, call.call.program_id, call.hints)[META_KEY]
        body["vllm_xargs"] = {**xargs, META_KEY: json.dumps(meta)}
        answer = _Answer(bool(body.get("stream")))
        status = [0]
        done = [False]  # the response's last body message was sent

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"x-agentrt-program", header_value(call.call.program_id).encode())]}
            elif message["type"] == "http.response.body":
                answer.feed(message.get("body", b""))
                done[0] = not message.get("more_body", False)
            await send(message)

        handling = self._handling[call.call.call_id] = anyio.CancelScope()
        try:
            with handling:
                await self.app(scope, _replay(json.dumps(body).encode(), receive), capture)
            if handling.cancelled_caught and not done[0]:  # its program was ended (DELETE): vLLM aborted it
                await _send_ended(send, started=status[0] != 0)
                status[0] = 409
        finally:
            del self._handling[call.call.call_id]
            await self._finish(call, answer, status[0], bool(messages))

    async def _finish(self, call: OpenCall, answer: _Answer, status: int, chat: bool) -> None:
        if status != 200:
            await self.service.fail_call(call, abort=False)
            return
        message = answer.message()
        service = answer.record.service_time if answer.record else time.monotonic() - call.call.arrival
        tools = [str((c.get("function") or {}).get("name")) for c in (message or {}).get("tool_calls") or ()]
        await self.service.close_call(call, message if chat else None, service, None, tools,
                                      None if chat else answer.text())

    # -- programs ---------------------------------------------------------------------------------
    async def _programs(self, path: str, method: str, send: Send) -> None:
        table = self.service.table
        program_id = path.removeprefix("/v1/programs").strip("/")
        if not program_id and method == "GET":
            data = [p.summary() for p in (*table.ended, *table.active.values())]
            await _json(send, 200, {"object": "list", "data": data})
            return
        program = (await self.service.end_program(program_id, EndReason.DELETED) if method == "DELETE"
                   else table.find(program_id))
        if program is None:
            await _json(send, 404, {"error": {"message": f"no program {program_id!r}; GET /v1/programs lists them",
                                              "type": "invalid_request_error", "param": "program_id",
                                              "code": "program_not_found"}})
            return
        await _json(send, 200, program.summary() | ({"deleted": True} if method == "DELETE" else {}))

    # -- the plugin -------------------------------------------------------------------------------
    async def _control(self, op: ControlOp, args: dict[str, Any]) -> None:
        if self.engine_client is not None:
            await self.engine_client.collective_rpc(METHOD, args=(op.value, args))

    async def _abort(self, call_id: str) -> None:
        """Cancel the call's request handling: vLLM aborts the request, as for a client gone."""
        handling = self._handling.get(call_id)
        if handling is not None:
            handling.cancel()

    async def _release(self, program_id: str) -> None:
        await self._control(ControlOp.RELEASE_PROGRAM, {"program_id": program_id})

    async def _hint_tool(self, program_id: str, tool: str, gap_samples: tuple[float, ...]) -> None:
        await self._control(ControlOp.UPDATE_PIN, {"program_id": program_id, "gap_samples": list(gap_samples)})


_ENDED = {"message": "the call was aborted: its program was ended (DELETE /v1/programs) while it ran",
          "type": "invalid_request_error", "param": None, "code": "program_ended"}


async def _send_ended(send: Send, *, started: bool) -> None:
    """Answer a call aborted by its program's end: a 409, or, when the response has started (a
    stream), an error event and the end of the stream."""
    if not started:
        await _json(send, 409, {"error": _ENDED})
        return
    await send({"type": "http.response.body", "body": f"data: {json.dumps({'error': _ENDED})}\n\ndata: [DONE]\n\n".encode(),
                "more_body": False})


async def _read_body(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that yields `body` once, then the real channel (for disconnects)."""
    sent = [False]

    async def replay() -> Message:
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
