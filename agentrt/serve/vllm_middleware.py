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
vLLM by agentrt's call id, so the middleware tells vLLM's request handling that its client went away
(vllm_disconnect.py), and vLLM aborts the request in the engine, freeing its KV, as for any client
gone. The client gets a 409 in OpenAI's error shape (or, mid-stream, an error event). A call past
its timeout (timeouts.py: the `X-Agentrt-Timeout` header, else `agentrt serve --request-timeout`,
which reaches this middleware as `AGENTRT_REQUEST_TIMEOUT`) is cut short the same way, with a 504
naming the limit. Times are `time.monotonic()`, the plugin's clock.

`GET /metrics` answers vLLM's metrics followed by agentrt's (metrics.py: programs, tool gaps, and the
plugin's KV gauges, read through `collective_rpc` when scraped, so they are current even when the
engine is idle and vLLM's own stats are off).

When vLLM's engine core dies, `/health` answers 503 with the reason and new calls get a 503 in
OpenAI's error shape here, before vLLM; a call in flight gets a 503 in the same shape. The
server stays up (`VLLM_KEEP_ALIVE_ON_ENGINE_DEATH`, set by `agentrt serve`) so that the programs
and their finished calls stay readable at `/v1/programs` until it is restarted.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from agentrt.engine_adapters.vllm.control import METHOD, ControlOp
from agentrt.engine_adapters.vllm.records import META_KEY, CallRecord, call_meta
from agentrt.exceptions import ServeError
from agentrt.runtime.scheduling.predictor import ToolLatencyPredictor
from agentrt.serve.errors import error_body
from agentrt.serve.health import EngineHealth
from agentrt.serve.identity import IdentityResolver
from agentrt.serve.metrics import ServeMetrics
from agentrt.serve.programs import EndReason, ProgramTable
from agentrt.serve.service import OpenCall, ProgramService, header_value
from agentrt.serve.timeouts import request_timeout
from agentrt.serve.vllm_disconnect import Cut, Message, Receive, Scope, Send, expire, replay

_CALL_PATHS = {"/v1/chat/completions": "chat", "/v1/completions": "completions"}
TIMEOUT_ENV = "AGENTRT_REQUEST_TIMEOUT"  # `agentrt serve --request-timeout`, for the middleware vLLM builds


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
        self._cuts: dict[str, Cut] = {}  # call id -> what ends its request handling early, while it runs
        self.health = EngineHealth()
        default = os.environ.get(TIMEOUT_ENV)
        self.request_timeout = float(default) if default else None  # checked by `agentrt serve`
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
        if (path == "/health" or (method == "POST" and path in _CALL_PATHS)) and not self._alive():
            await _json(send, 503, self.health.body() if path == "/health" else _error(self.health.error()))
        elif path.startswith("/v1/programs"):
            await self._programs(path, method, send)
        elif path == "/metrics" and method == "GET":
            await self._metrics(scope, receive, send)
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
            await self.app(scope, replay(raw, receive), send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        raw_messages = body.get("messages")
        messages = [m for m in raw_messages if isinstance(m, dict)] if isinstance(raw_messages, list) else []
        prompt = body.get("prompt") if scope["path"] == "/v1/completions" else None
        try:
            timeout = request_timeout(headers, self.request_timeout)
            call = self.service.open_call(headers, body, messages, prompt if isinstance(prompt, str) else None)
        except ServeError as exc:  # a bad header: answered here, vLLM never sees the request
            await _json(send, exc.status, _error(exc))
            return
        raw_xargs = body.get("vllm_xargs")
        xargs: dict[str, Any] = raw_xargs if isinstance(raw_xargs, dict) else {}
        meta = call_meta(call.call.call_id, call.call.program_id, call.hints)[META_KEY]
        body["vllm_xargs"] = {**xargs, META_KEY: json.dumps(meta)}
        answer = _Answer(bool(body.get("stream")))
        status = [0]
        done = [False]  # the response's last body message was sent

        cut = self._cuts[call.call.call_id] = Cut()

        async def capture(message: Message) -> None:
            if done[0] or cut.error is not None:  # answered here: what vLLM sends after is dropped
                return
            if message["type"] == "http.response.start":
                if message["status"] >= 500 and not self._alive():  # died during the call: as a call after
                    status[0], done[0] = 503, True
                    await _send_error(send, self.health.error(), started=False)
                    return
                status[0] = message["status"]
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"x-agentrt-program", header_value(call.call.program_id).encode())]}
            elif message["type"] == "http.response.body":
                if answer.streaming and b'"error"' in message.get("body", b"") and not self._alive():
                    done[0] = True  # vLLM's untyped error event for the death: the typed one instead
                    await _send_error(send, self.health.error(), started=True)
                    return
                answer.feed(message.get("body", b""))
                done[0] = not message.get("more_body", False)
            await send(message)

        try:
            with anyio.CancelScope() as handling:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(expire, cut, timeout, handling)
                    await self.app(scope, replay(json.dumps(body).encode(), receive, cut), capture)
                    tg.cancel_scope.cancel()
            if cut.error is not None and not done[0]:  # ended (DELETE) or past its timeout: vLLM aborted it
                await _send_error(send, cut.error, started=status[0] != 0)
                status[0] = cut.error.status
        finally:
            del self._cuts[call.call.call_id]
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

    def _alive(self) -> bool:
        """Whether vLLM's engine serves; its death is recorded in `self.health` when first seen."""
        if self.engine_client is not None and getattr(self.engine_client, "errored", False):
            self.health.died("vLLM's engine core died (EngineDeadError; the server's log has the cause)")
        return self.health.alive

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

    # -- metrics ----------------------------------------------------------------------------------
    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        """vLLM's /metrics (uncompressed) followed by agentrt's; agentrt's alone where vLLM has none."""
        plain = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]}
        vllm: list[Message] = []

        async def keep(message: Message) -> None:
            vllm.append(message)

        await self.app(plain, receive, keep)
        ok = bool(vllm) and vllm[0].get("status") == 200
        text = b"".join(m.get("body", b"") for m in vllm[1:]) if ok else b""
        stats = await self._plugin_gauges()
        ours = self.service.metrics.render(stats, len(self.service.table.active),
                                           None if stats is None else stats.num_waiting)
        body = text + ours
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _plugin_gauges(self) -> _PluginGauges | None:
        """The plugin's KV gauges now (None when the engine is dead or answers nothing)."""
        if self.engine_client is None or not self._alive():
            return None
        with anyio.move_on_after(10):
            answers = await self.engine_client.collective_rpc(METHOD, args=(ControlOp.STATS.value, {}))
            snapshot = answers[0] if answers else {}
            if "num_free_blocks" in snapshot:
                return _PluginGauges.of(snapshot)
        return None

    # -- the plugin -------------------------------------------------------------------------------
    async def _control(self, op: ControlOp, args: dict[str, Any]) -> None:
        if self.engine_client is not None:
            await self.engine_client.collective_rpc(METHOD, args=(op.value, args))

    async def _abort(self, call_id: str) -> None:
        """End the call's request handling as its program ended: vLLM aborts the request."""
        cut = self._cuts.get(call_id)
        if cut is not None:
            cut(_ENDED)

    async def _release(self, program_id: str) -> None:
        await self._control(ControlOp.RELEASE_PROGRAM, {"program_id": program_id})

    async def _hint_tool(self, program_id: str, tool: str, gap_samples: tuple[float, ...]) -> None:
        await self._control(ControlOp.UPDATE_PIN, {"program_id": program_id, "gap_samples": list(gap_samples)})


@dataclass(frozen=True, slots=True)
class _PluginGauges:
    """The scheduler plugin's snapshot (control.py), under the names `ServeMetrics` reads."""

    num_blocks: int
    num_used_blocks: int
    num_pinned_blocks: int
    num_pin_hits: int
    num_pins: int
    num_preemptions: int
    num_waiting: int

    @classmethod
    def of(cls, snapshot: dict[str, Any]) -> _PluginGauges:
        blocks = int(snapshot["num_gpu_blocks"])
        return cls(blocks, blocks - int(snapshot["num_free_blocks"]), int(snapshot["num_pinned_blocks"]),
                   int(snapshot["num_pin_hits"]), int(snapshot["num_pins_created"]),
                   int(snapshot["num_preemptions"]), int(snapshot["num_waiting"]))


_ENDED = ServeError(409, "the call was aborted: its program was ended (DELETE /v1/programs) while it ran",
                    code="program_ended")


def _error(exc: ServeError) -> dict[str, Any]:
    return error_body(exc.message, exc.kind, exc.param, exc.code)


async def _send_error(send: Send, exc: ServeError, *, started: bool) -> None:
    """Answer a call cut short: its status, or, when the response has started (a stream), an error
    event and the end of the stream."""
    if not started:
        await _json(send, exc.status, _error(exc))
        return
    event = f"data: {json.dumps(_error(exc))}\n\ndata: [DONE]\n\n"
    await send({"type": "http.response.body", "body": event.encode(), "more_body": False})


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


async def _json(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
