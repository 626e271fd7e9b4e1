"""The simulator's OpenAI-compatible server: a FastAPI app over agentrt's engine protocol.

Routes: `POST /v1/chat/completions`, `POST /v1/completions` (JSON or SSE), `GET /v1/models`,
`GET /health`, `GET /metrics`, and agentrt's `GET /v1/programs[/{id}]`, `DELETE /v1/programs/{id}`.
Each call goes to the engine with the policy's inputs (service.py); the engine runs on the server's
loop (local_engine.py) or, under a time scale, on a thread and event loop of its own
(engine_thread.py). A request
whose client disconnects, or that runs past its timeout (timeouts.py: 504), is aborted in the
engine (its KV freed) and fails only itself. Admission is bounded: beyond `max_in_flight` requests
the server answers 429 with `Retry-After`. An engine that dies fails the calls in flight and every
later call with 503, and `/health` says why (health.py).

The engine answers a call only when it finishes, so a stream sends its role chunk at once and the
rest when the call finishes.

Prompts are token sequences, as in trace replay: a request that continues a call (identity.py)
is that call's context (prompt + output tokens) plus the tokens of its new messages, so a
program's next turn hits the prefix cache as it would on a real engine. With `engine_answers`
(vLLM replicas behind the router: `agentrt serve --engine vllm --replicas N --ray`) the prompt is
the conversation itself, rendered by the model's chat template, and the model writes the answer.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field, TypeAdapter
from starlette.routing import Route

from agentrt.engine_adapters.base import (Engine, GenerationRequest, GenerationResult, Prompt, filler_text,
                                          text_to_tokens)
from agentrt.exceptions import EngineDiedError, EngineError, LLMCallError, PromptTooLongError, ServeError
from agentrt.programs.tokens import Tokens
from agentrt.runtime.scheduling.policies import policy_config
from agentrt.runtime.scheduling.predictor import ToolLatencyPredictor
from agentrt.serve import bodies, errors, responses
from agentrt.serve.engine_runner import EngineRunner
from agentrt.serve.health import EngineHealth, describe
from agentrt.serve.identity import IdentityResolver
from agentrt.serve.metrics import ServeMetrics
from agentrt.serve.programs import EndReason, ProgramTable
from agentrt.serve.protocol import ChatCompletionRequest, ChatMessage, CompletionRequest
from agentrt.serve.responses import Reply, Responder
from agentrt.serve.service import OpenCall, ProgramService, header_value
from agentrt.serve.timeouts import RequestTimeout, request_timeout

# The assistant message a call answered with: known before the call (the simulator's responder),
# a function of the result (the engine's model writes it), or None (/v1/completions)
Answer = dict[str, Any] | Callable[[GenerationResult], dict[str, Any]] | None
_MESSAGES: TypeAdapter[list[ChatMessage]] = TypeAdapter(list[ChatMessage])


class ServeOptions(BaseModel):
    """Options of `agentrt serve` that are not the engine's."""

    model_names: list[str] = Field(min_length=1, description="Model ids the server answers to (/v1/models).")
    policy: str = Field(default="agentrt", description="Scheduling policy.")
    max_in_flight: int = Field(default=4096, ge=1, description="Requests admitted at once; more get 429.")
    min_idle_timeout: float = Field(default=300.0, ge=0, description="A program idle this long (server clock, "
                                    "s) may end; longer when its predicted gaps are longer.")
    idle_factor: float = Field(default=4.0, ge=1, description="Idle timeout = max(min_idle_timeout, "
                               "idle_factor x its longest predicted gap).")
    reap_period: float = Field(default=5.0, gt=0, description="How often idle programs are looked for (s).")
    request_timeout: float | None = Field(default=None, gt=0, allow_inf_nan=False, description=(
        "A call not answered within this many wall seconds is aborted (504); None: no limit. A request's "
        "X-Agentrt-Timeout header overrides it."))
    engine_answers: bool = Field(default=False, description="The engine's model writes the answers (vLLM "
                                 "replicas): prompts go to it as the conversation, not as simulated tokens, "
                                 "and the reply is its text (no responder).")


class _Admission:
    """At most `limit` requests in flight; the next gets 429 with a Retry-After from the mean
    recent latency (engine clock, converted to wall seconds, at least 1)."""

    def __init__(self, limit: int, metrics: ServeMetrics, scale: float) -> None:
        self.limit, self.metrics, self.scale = limit, metrics, scale
        self.num_in_flight = 0
        self.mean_latency = 1.0  # server clock, exponentially weighted

    def enter(self) -> None:
        if self.num_in_flight >= self.limit:
            retry = max(1, math.ceil(self.mean_latency / self.scale))
            raise ServeError(429, f"the server is at its limit of {self.limit} requests in flight "
                             f"(--max-in-flight); retry after {retry} s", kind="rate_limit_error",
                             code="too_many_requests", retry_after=retry)
        self.num_in_flight += 1
        self.metrics.requests_in_flight.set(self.num_in_flight)

    def leave(self, latency: float) -> None:
        self.num_in_flight -= 1
        self.metrics.requests_in_flight.set(self.num_in_flight)
        self.mean_latency = 0.9 * self.mean_latency + 0.1 * latency


class SimServer:
    """The app's state: engine, programs, metrics. `app` is the FastAPI application. Every time it
    keeps is on the engine's clock (simulated seconds, `engine.now()`)."""

    def __init__(self, engine: EngineRunner, options: ServeOptions, responder: Responder | None = None,
                 time_scale: float = 1.0) -> None:
        self.engine, self.options, self.responder, self.time_scale = engine, options, responder, time_scale
        self.metrics = ServeMetrics()
        self.table = ProgramTable(ToolLatencyPredictor(), min_idle_timeout=options.min_idle_timeout,
                                  idle_factor=options.idle_factor)
        self.service = ProgramService(self.table, IdentityResolver(), self.metrics, now=engine.now,
                                      abort=engine.abort, release=engine.release_program, hint_tool=engine.hint_tool)
        self.admission = _Admission(options.max_in_flight, self.metrics, time_scale)
        self.health_state = EngineHealth()
        self.context_length: int | None = None  # the engine's, read when it has started
        self.app = self._build()

    # -- the app ----------------------------------------------------------------------------------
    def _build(self) -> FastAPI:
        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            async with anyio.create_task_group() as tg:
                await self.engine.start(policy_config(self.options.policy), tg)
                self.context_length = await self.engine.read(_context_length)
                tg.start_soon(self._watch_engine)
                tg.start_soon(self.service.reap_idle, self.options.reap_period / self.time_scale)
                yield
                await self.service.shutdown()
                await self.engine.stop()
                tg.cancel_scope.cancel()

        app = FastAPI(title="agentrt serve (simulator)", lifespan=lifespan)
        app.add_middleware(_ServerTime)
        errors.install(app)
        app.get("/health")(self.health)
        app.get("/v1/models")(self.models)
        app.get("/metrics")(self.render_metrics)
        app.get("/v1/programs")(self.list_programs)
        app.get("/v1/programs/{program_id}")(self.get_program)
        app.delete("/v1/programs/{program_id}")(self.delete_program)
        app.post("/v1/chat/completions", response_model=None)(self.chat)
        app.post("/v1/completions", response_model=None)(self.completions)
        # the same two served ahead of FastAPI's routes, which stay for the schema (bodies.py)
        app.router.routes[:0] = [
            Route("/v1/chat/completions", self._chat_route, methods=["POST"], include_in_schema=False),
            Route("/v1/completions", self._completions_route, methods=["POST"], include_in_schema=False)]
        return app

    async def _watch_engine(self) -> None:
        """Until the server stops: an engine thread that ends on its own has died; record why."""
        reason = await self.engine.wait_ended()
        if reason is not None:
            self.health_state.died(reason)

    async def health(self) -> JSONResponse:
        """200 `{"status": "ok"}`, or 503 with the reason once the engine has died."""
        return JSONResponse(self.health_state.body(), status_code=200 if self.health_state.alive else 503)

    async def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "agentrt"}
                                           for name in self.options.model_names]}

    async def render_metrics(self) -> Response:
        try:
            stats = await self.engine.read(lambda engine: engine.statistics())
        except EngineError:  # the engine died: its gauges keep the values of the last scrape
            stats = None
        waiting = getattr(stats, "iterations", ())
        num_waiting = waiting[-1].num_waiting if waiting else None
        body = self.metrics.render(stats, len(self.table.active), num_waiting)
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    async def list_programs(self, state: str = "all") -> dict[str, Any]:
        """Programs: `state=active`, `ended` or `all` (default)."""
        if state not in ("active", "ended", "all"):
            raise ServeError(400, f"state must be active, ended or all, got {state!r}", param="state")
        programs = [*(self.table.ended if state != "active" else ()),
                    *(self.table.active.values() if state != "ended" else ())]
        return {"object": "list", "data": [p.summary() for p in programs]}

    async def get_program(self, program_id: str) -> dict[str, Any]:
        program = self.table.find(program_id)
        if program is None:
            raise ServeError(404, f"no program {program_id!r}; GET /v1/programs lists them", param="program_id",
                             code="program_not_found")
        return program.summary()

    async def delete_program(self, program_id: str) -> dict[str, Any]:
        """End a program: abort its calls in flight and release its KV."""
        program = await self.service.end_program(program_id, EndReason.DELETED)
        if program is None:
            raise ServeError(404, f"no active program {program_id!r}; GET /v1/programs?state=active lists them",
                             param="program_id", code="program_not_found")
        return program.summary() | {"deleted": True}

    # -- completions ------------------------------------------------------------------------------
    async def _chat_route(self, request: Request) -> Response:
        return await self.chat(await bodies.read_body(request, ChatCompletionRequest), request)

    async def _completions_route(self, request: Request) -> Response:
        return await self.completions(await bodies.read_body(request, CompletionRequest), request)

    async def chat(self, body: ChatCompletionRequest, request: Request) -> Response:
        self._check_model(body.model)
        messages = _MESSAGES.dump_python(body.messages, exclude_none=True)  # one call, not one per message
        if self.options.engine_answers:
            return await self._chat_from_engine(body, request, messages)
        reply = self._reply(messages, body.tools, body.output_limit())
        exchange = self._open(request, body, messages, reply.text)
        call_id = exchange.call.call.call_id
        message = reply.message(call_id)
        tools = tuple(name for name, _ in reply.tool_calls)
        if body.stream:
            first = responses.sse(responses.chat_chunk(call_id, body.model, {"role": "assistant", "content": ""}))
            return self._stream(exchange, request, message, tools, first, lambda r: responses.chat_chunks(
                call_id, body.model, reply, message, r, _include_usage(body)))
        result = await self._respond(exchange, request, message, tools)
        return JSONResponse(responses.chat_body(call_id, body.model, reply, message, result),
                            headers=_headers(exchange, result))

    async def completions(self, body: CompletionRequest, request: Request) -> Response:
        self._check_model(body.model)
        text = body.prompt_text()
        if self.options.engine_answers:
            return await self._complete_from_engine(body, request, text)
        reply = Reply(self._reply([{"role": "user", "content": text}], None, body.output_limit()).text)
        exchange = self._open(request, body, [], reply.text, prompt_text=text)
        exchange.completion = reply.content or ""
        call_id = exchange.call.call.call_id
        out = (text if body.echo else "") + exchange.completion
        if body.stream:
            return self._stream(exchange, request, None, (), None, lambda r: responses.completion_chunks(
                call_id, body.model, out, r, _include_usage(body)))
        result = await self._respond(exchange, request, None, ())
        return JSONResponse(responses.completion_body(call_id, body.model, out, result),
                            headers=_headers(exchange, result))

    async def _chat_from_engine(self, body: ChatCompletionRequest, request: Request,
                                messages: list[dict[str, Any]]) -> Response:
        """`chat` when the engine's model writes the answer: the prompt is the conversation."""
        exchange = self._open(request, body, messages, "", prompt=responses.chat_prompt(messages))
        call_id = exchange.call.call.call_id

        def answer(result: GenerationResult) -> dict[str, Any]:
            return Reply(result.text).message(call_id)

        if body.stream:
            first = responses.sse(responses.chat_chunk(call_id, body.model, {"role": "assistant", "content": ""}))
            return self._stream(exchange, request, answer, (), first, lambda r: responses.chat_chunks(
                call_id, body.model, Reply(r.text), answer(r), r, _include_usage(body)))
        result = await self._respond(exchange, request, answer, ())
        return JSONResponse(responses.chat_body(call_id, body.model, Reply(result.text), answer(result), result),
                            headers=_headers(exchange, result))

    async def _complete_from_engine(self, body: CompletionRequest, request: Request, text: str) -> Response:
        """`completions` when the engine's model writes the answer: the prompt is the text."""
        exchange = self._open(request, body, [], "", prompt=text, prompt_text=text)
        call_id = exchange.call.call.call_id
        echo = text if body.echo else ""
        if body.stream:
            return self._stream(exchange, request, None, (), None, lambda r: responses.completion_chunks(
                call_id, body.model, echo + r.text, r, _include_usage(body)))
        result = await self._respond(exchange, request, None, ())
        return JSONResponse(responses.completion_body(call_id, body.model, echo + result.text, result),
                            headers=_headers(exchange, result))

    def _open(self, request: Request, body: ChatCompletionRequest | CompletionRequest,
              messages: list[dict[str, Any]], text: str, prompt: Prompt | None = None,
              prompt_text: str | None = None) -> _Exchange:
        """Admit the request (or raise 503 if the engine is dead, 429 if full) and register its call.
        `prompt`: what the engine gets when not the conversation's tokens; `prompt_text`: a
        /v1/completions prompt."""
        self.health_state.check()
        timeout = request_timeout(request.headers, self.options.request_timeout)
        self.admission.enter()
        try:
            call = self.service.open_call(request.headers, _naming_fields(body), messages, prompt_text)
        except BaseException:
            self.admission.leave(0.0)
            raise
        if prompt is None:
            new_text = call.new_prompt if prompt_text is not None else responses.messages_text(call.new_messages)
            new = text_to_tokens(new_text)
            prompt = new if call.parent_context is None else call.parent_context + new
        call.call.prompt = prompt if isinstance(prompt, Tokens) else None  # the context a next call continues
        gen = GenerationRequest(
            call_id=call.call.call_id, program_id=call.call.program_id, prompt=prompt,
            max_tokens=body.output_limit(), arrival=call.call.arrival, temperature=body.temperature or 0.0,
            stop=body.stop_strings(), ignore_eos=body.ignore_eos, hints=call.hints, extra={"text": text})
        endpoint = "chat" if isinstance(body, ChatCompletionRequest) else "completions"
        return _Exchange(call, gen, endpoint, timeout)

    async def _respond(self, exchange: _Exchange, request: Request, answer: Answer,
                       tools: tuple[str, ...]) -> GenerationResult:
        """Run the call in the engine, cut short if the client disconnects, its timeout passes or
        the engine dies; close the exchange. `answer`: the assistant message (or a function of the
        result that gives it; None for /v1/completions). Raises ServeError for what the engine
        refused, 504 for a timeout, 503 for a dead engine, 499 for a client gone."""
        call, gen = exchange.call, exchange.gen
        outcome: GenerationResult | BaseException | None = None
        cut: ServeError | None = None
        limit = math.inf if exchange.timeout is None else exchange.timeout.seconds  # the server's loop: wall s
        timer = anyio.move_on_after(limit)
        cut_short = anyio.CancelScope()  # by the client's disconnect or the engine's death
        try:
            with cut_short, self.health_state.cancel_on_death(cut_short), _cancel_on_disconnect(request, cut_short):
                with timer:
                    try:
                        exchange.engine_arrival, outcome = await self.engine.generate_timed(gen)
                    except Exception as exc:  # sent to the client as an OpenAI error below
                        outcome = exc
        finally:
            if outcome is None:  # cut short
                cut = self._cut_short(exchange, timed_out=timer.cancelled_caught)
                await self._close(exchange, str(cut.status))
                await self.service.fail_call(call, abort=self.health_state.alive)
        if cut is not None:
            raise cut
        assert outcome is not None, "a call not cut short has an outcome"
        if isinstance(outcome, BaseException):
            death = describe(outcome) if isinstance(outcome, EngineDiedError) else self.engine.death
            if death is not None:  # before the watcher notices: the next request must not reach the engine
                self.health_state.died(death)
            await self.service.fail_call(call, abort=False)
            error = _engine_error(outcome)
            await self._close(exchange, str(error.status))
            raise error from outcome
        context = gen.prompt + outcome.output if isinstance(gen.prompt, Tokens) else None
        message = answer(outcome) if callable(answer) else answer
        completion = outcome.text if exchange.completion is None and call.prompt is not None else exchange.completion
        await self.service.close_call(call, message, outcome.service_time, context, tools, completion)
        await self._close(exchange, "200")
        return outcome

    def _cut_short(self, exchange: _Exchange, *, timed_out: bool) -> ServeError:
        """Why a call ended without an outcome: the engine died, its timeout passed, or its client left."""
        if not self.health_state.alive:
            return self.health_state.error()
        if timed_out and exchange.timeout is not None:
            return exchange.timeout.error()
        return ServeError(499, "the client disconnected; the call was aborted", code="client_disconnected")

    def _stream(self, exchange: _Exchange, request: Request, answer: Answer, tools: tuple[str, ...],
                first: str | None, chunks: Any) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            if first is not None:
                yield first
            try:
                result = await self._respond(exchange, request, answer, tools)
            except ServeError as exc:
                yield responses.sse(errors.error_body(exc.message, exc.kind, exc.param, exc.code))
                yield responses.sse("[DONE]")
                return
            for chunk in chunks(result):
                yield chunk

        async def on_close() -> None:  # the stream ended before the call did: the client went away
            if not exchange.closed:
                await self._close(exchange, "499")
                await self.service.fail_call(exchange.call, abort=True)

        return _Stream(events(), on_close, media_type="text/event-stream",
                       headers=_id_headers(exchange.call))

    async def _close(self, exchange: _Exchange, status: str) -> None:
        if exchange.closed:
            return
        exchange.closed = True
        self.admission.leave(self.engine.now() - exchange.gen.arrival)
        self.metrics.requests.labels(exchange.endpoint, status).inc()

    # -- helpers ----------------------------------------------------------------------------------
    def _check_model(self, model: str) -> None:
        if model not in self.options.model_names:
            raise ServeError(404, f"the model {model!r} does not exist; this server serves "
                             f"{', '.join(self.options.model_names)} (GET /v1/models)", param="model",
                             code="model_not_found")

    def _reply(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, max_tokens: int) -> Reply:
        """The answer's text. Raises ServeError (400) for a max_tokens past the context length,
        before the filler of that many words is written (max_tokens 1e9 took 19 GB)."""
        limit = self.context_length
        if limit is not None and max_tokens > limit:
            raise ServeError(400, f"max_tokens ({max_tokens}) exceeds the model's context length ({limit} tokens); "
                             "ask for fewer", param="max_tokens", code="context_length_exceeded")
        if self.responder is None:
            return Reply(filler_text(max_tokens))
        try:
            return responses.make_reply(self.responder(messages, tools))
        except Exception as exc:  # the user's responder failed: this request fails, the server goes on
            raise ServeError(500, f"the responder raised {type(exc).__name__}: {exc}", kind="server_error",
                             code="responder_error") from exc


@dataclass(slots=True)
class _Exchange:
    """One admitted request: its call, the engine request, whether it has been closed, and when
    the engine received it (engine clock)."""

    call: OpenCall
    gen: GenerationRequest
    endpoint: str
    timeout: RequestTimeout | None = None
    closed: bool = False
    engine_arrival: float = 0.0
    completion: str | None = None  # /v1/completions: the text answered


class _Stream(StreamingResponse):
    """A StreamingResponse that runs `on_close` however the stream ends (even before it starts)."""

    def __init__(self, content: AsyncIterator[str], on_close: Callable[[], Awaitable[None]], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await self._on_close()


class _ServerTime:
    """ASGI middleware: each response carries `X-Agentrt-Server-Time`, the wall seconds from the
    request reaching the app to its response headers (what the server's own code took, engine
    included; HTTP parsing and socket writes are outside it)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()

        async def timed_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                took = f"{time.perf_counter() - start:.6f}".encode()
                message["headers"] = [*message.get("headers", ()), (b"x-agentrt-server-time", took)]
            await send(message)

        await self.app(scope, receive, timed_send)


@contextmanager
def _cancel_on_disconnect(request: Request, scope: anyio.CancelScope) -> Iterator[None]:
    """Within the block, the client's disconnect cancels `scope`. One bare asyncio task (the server
    runs only on uvicorn's asyncio loop): an anyio task group per request, with a second task
    waiting for the engine's death, cost more of the server thread's CPU per call than the rest
    of the call's bookkeeping (README, "Serve your existing agent")."""

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        scope.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        yield
    finally:
        watcher.cancel()


def _engine_error(exc: BaseException) -> ServeError:
    if isinstance(exc, PromptTooLongError):
        return ServeError(400, exc.reason, param="messages", code="context_length_exceeded")
    if isinstance(exc, EngineDiedError):
        return ServeError(503, f"the engine died while the call ran: {exc.reason}; restart `agentrt serve`",
                          kind="server_error", code="engine_unavailable")
    if isinstance(exc, LLMCallError) and exc.reason == "aborted":
        return ServeError(409, "the call was aborted: its program was ended (DELETE /v1/programs or a "
                          "last-call header) while it ran", code="program_ended")
    if isinstance(exc, LLMCallError):
        return ServeError(400, exc.reason, code="invalid_request")
    if isinstance(exc, EngineError):
        return ServeError(503, str(exc), kind="server_error", code="engine_unavailable")
    return ServeError(500, f"{type(exc).__name__}: {exc}", kind="server_error", code="internal_error")


def _context_length(engine: Engine) -> int | None:
    """The engine's context length in tokens (the smallest of its replicas'), if it says."""
    replicas = getattr(engine, "engines", None)
    lengths = [getattr(e, "max_model_len", None) for e in (replicas if isinstance(replicas, list) else [engine])]
    known = [n for n in lengths if isinstance(n, int)]
    return min(known) if known else None


def _naming_fields(body: ChatCompletionRequest | CompletionRequest) -> dict[str, Any]:
    return {"prompt_cache_key": body.prompt_cache_key, "vllm_xargs": body.vllm_xargs, "agent_hint": body.agent_hint}


def _include_usage(body: ChatCompletionRequest | CompletionRequest) -> bool:
    return bool(body.stream_options and body.stream_options.include_usage)


def _headers(exchange: _Exchange, result: GenerationResult) -> dict[str, str]:
    """The program and call ids, and the engine's time for the call: from the engine receiving it
    to the engine finishing it (engine clock, simulated s; divide by the time scale for wall s)."""
    return _id_headers(exchange.call) | {"X-Agentrt-Engine-Time": f"{result.finish - exchange.engine_arrival:.6f}"}


def _id_headers(call: OpenCall) -> dict[str, str]:
    return {"X-Agentrt-Program": header_value(call.call.program_id), "X-Agentrt-Call": header_value(call.call.call_id)}
