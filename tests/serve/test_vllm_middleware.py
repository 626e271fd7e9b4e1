"""The program middleware that fronts vLLM's server, around a recording stand-in for vLLM's app:
each call's metadata reaches the body as `vllm_xargs["agentrt"]` (what the scheduler plugin parses),
answers (JSON or SSE) are remembered for inference, and /v1/programs is served."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agentrt.engine_adapters.vllm.records import parse_meta
from agentrt.serve.vllm_middleware import TIMEOUT_ENV, ProgramMiddleware

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _stand_in(seen: list[dict[str, Any]]) -> Starlette:
    """Answers every chat request with `echo N` (N = its message count), as JSON or as a stream."""

    async def chat(request: Request) -> Response:
        body = await request.json()
        seen.append(body)
        text = f"echo {len(body['messages'])}"
        if body.get("stream"):
            async def events() -> Any:
                for piece in (text[:2], text[2:]):
                    yield f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': piece}}]})}\n\n"
                yield "data: [DONE]\n\n"
            return StreamingResponse(events(), media_type="text/event-stream")
        return JSONResponse({"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}],
                             "kv_transfer_params": {"agentrt": {"call_id": "x", "arrival": 0.0, "service_time": 0.25}}})

    async def completions(request: Request) -> Response:
        body = await request.json()
        seen.append(body)
        return JSONResponse({"choices": [{"index": 0, "text": f" echo {len(body['prompt'])}"}]})

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"]),
                             Route("/v1/completions", completions, methods=["POST"])])


async def test_metadata_reaches_the_plugin_and_conversations_become_programs() -> None:
    seen: list[dict[str, Any]] = []
    app = ProgramMiddleware(_stand_in(seen))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        first = [{"role": "user", "content": "task"}]
        one = await client.post("/v1/chat/completions", json={"model": "m", "messages": first})
        answer = one.json()["choices"][0]["message"]
        two = await client.post("/v1/chat/completions", json={"model": "m", "stream": True, "messages": [
            *first, answer, {"role": "user", "content": "more"}]})
        assert two.status_code == 200 and "echo 3" not in two.text  # streamed in two pieces
        streamed = {"role": "assistant", "content": "echo 3"}
        three = await client.post("/v1/chat/completions", json={"model": "m", "messages": [
            *first, answer, {"role": "user", "content": "more"}, streamed, {"role": "user", "content": "end"}]},
            headers={"X-Agentrt-Program-End": "1"})
        listed = (await client.get("/v1/programs")).json()["data"]
    assert one.headers["x-agentrt-program"] == two.headers["x-agentrt-program"] == three.headers["x-agentrt-program"]
    call_ids, program_ids = [], set()
    for body in seen:
        call_id, program_id, hints = parse_meta(body["vllm_xargs"], "request-id")
        call_ids.append(call_id)
        program_ids.add(program_id)
    assert program_ids == {one.headers["x-agentrt-program"]} and len(set(call_ids)) == 3
    assert parse_meta(seen[2]["vllm_xargs"], "r")[2].program_service > 0.25  # service of the two earlier calls
    (program,) = listed
    assert (program["num_calls"], program["end_reason"], program["identified_by"]) == (3, "last_call", "new")


async def test_a_completions_prompt_extending_a_prompt_and_its_text_continues_its_program() -> None:
    app = ProgramMiddleware(_stand_in([]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        prompt = "task " * 100
        one = await client.post("/v1/completions", json={"model": "m", "prompt": prompt})
        prompt += one.json()["choices"][0]["text"] + " observation"
        two = await client.post("/v1/completions", json={"model": "m", "prompt": prompt})
        other = await client.post("/v1/completions", json={"model": "m", "prompt": "another task"})
    assert one.headers["x-agentrt-program"] == two.headers["x-agentrt-program"] != other.headers["x-agentrt-program"]


async def test_the_programs_kind_reaches_the_plugin_and_a_bad_kind_header_never_reaches_vllm() -> None:
    seen: list[dict[str, Any]] = []
    app = ProgramMiddleware(_stand_in(seen))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        first = [{"role": "system", "content": "You are an agent."}, {"role": "user", "content": "task"}]
        one = await client.post("/v1/chat/completions", json={"model": "m", "messages": first})
        answer = one.json()["choices"][0]["message"]
        await client.post("/v1/chat/completions", json={"model": "m", "messages": [*first, answer]})
        await client.post("/v1/completions", json={"model": "m", "prompt": "p"},
                          headers={"X-Agentrt-Program-Kind": "completer"})
        bad = await client.post("/v1/chat/completions", json={"model": "m", "messages": first},
                                headers={"X-Agentrt-Program-Kind": "k" * 1000})
    kinds = [parse_meta(body["vllm_xargs"], "r")[2].program_kind for body in seen]
    assert kinds == [kinds[0], kinds[0], "completer"] and kinds[0] is not None and kinds[0].startswith("system:")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_program_kind"


async def test_unknown_programs_are_404_in_openais_shape() -> None:
    app = ProgramMiddleware(_stand_in([]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        gone = await client.delete("/v1/programs/nope")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "program_not_found"
    await anyio.lowlevel.checkpoint()


async def _like_vllm(handler: Coroutine[Any, Any, Response], request: Request) -> Response:
    """vLLM's `with_cancellation`: the handler runs in a task of its own, cancelled when the client
    disconnects, and not when the request's handling is cancelled; after a disconnect vLLM answers
    `null`."""
    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    work, listener = asyncio.create_task(handler), asyncio.create_task(disconnected())
    done, pending = await asyncio.wait([work, listener], return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return work.result() if work in done else JSONResponse(None)


def _hanging(started: anyio.Event, cancelled: list[str]) -> Starlette:
    """Answers nothing: each chat request (after one chunk, when streamed) waits until cancelled,
    as a call still generating in vLLM does; a cancelled handler is what makes vLLM abort it. A
    streamed answer is cancelled when starlette sees the client disconnect, a JSON one as vLLM's
    handler is (`_like_vllm`)."""

    async def chat(request: Request) -> Response:
        body = await request.json()

        async def wait() -> None:
            try:
                started.set()
                await anyio.sleep_forever()
            except anyio.get_cancelled_exc_class():
                cancelled.append("stream" if body.get("stream") else "json")
                raise

        if body.get("stream"):
            async def events() -> Any:
                yield f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': 'a'}}]})}\n\n"
                await wait()
            return StreamingResponse(events(), media_type="text/event-stream")
        async def handle() -> Response:
            await wait()
            raise AssertionError("not reached")

        return await _like_vllm(handle(), request)

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_delete_aborts_the_programs_calls_in_flight(stream: bool) -> None:
    started, cancelled = anyio.Event(), []
    app = ProgramMiddleware(_hanging(started, cancelled))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        responses: list[httpx.Response] = []
        with anyio.fail_after(30):  # before the fix, DELETE left the call running forever
            async with anyio.create_task_group() as tg:
                async def call() -> None:
                    responses.append(await client.post("/v1/chat/completions", headers={"X-Agentrt-Program": "doomed"},
                                                       json={"model": "m", "stream": stream,
                                                             "messages": [{"role": "user", "content": "hi"}]}))

                tg.start_soon(call)
                await started.wait()
                deleted = await client.delete("/v1/programs/doomed")
        program = (await client.get("/v1/programs/doomed")).json()
    (response,) = responses
    assert deleted.json()["deleted"] is True and cancelled == ["stream" if stream else "json"]
    if stream:
        assert response.status_code == 200
        assert '"code": "program_ended"' in response.text and response.text.endswith("data: [DONE]\n\n")
    else:
        assert response.status_code == 409 and response.json()["error"]["code"] == "program_ended"
    assert (program["num_calls"], program["num_in_flight"], program["end_reason"]) == (1, 0, "deleted")


class _EngineClient:
    """What the middleware reads of vLLM's engine client: whether it has errored."""

    def __init__(self) -> None:
        self.errored = False


async def test_after_the_engine_died_health_and_calls_answer_503_and_programs_are_kept() -> None:
    seen: list[dict[str, Any]] = []
    stand_in = _stand_in(seen)

    async def health(request: Request) -> Response:
        return Response(status_code=200)

    stand_in.add_route("/health", health)
    app = ProgramMiddleware(stand_in)
    app.engine_client = client_state = _EngineClient()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        body = {"model": "m", "messages": [{"role": "user", "content": "task"}]}
        before = await client.post("/v1/chat/completions", json=body, headers={"X-Agentrt-Program": "kept"})
        healthy = await client.get("/health")
        client_state.errored = True
        after = await client.post("/v1/chat/completions", json=body)
        dead = await client.get("/health")
        kept = (await client.get("/v1/programs/kept")).json()
    assert (before.status_code, healthy.status_code) == (200, 200)
    assert after.status_code == 503 and after.json()["error"]["code"] == "engine_unavailable"
    assert len(seen) == 1  # the call after the death never reached vLLM
    assert dead.status_code == 503 and dead.json()["status"] == "engine_dead" and "EngineDeadError" in dead.json()["reason"]
    assert kept["num_calls"] == 1 and kept["num_in_flight"] == 0


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_a_call_past_its_timeout_is_aborted_with_504_naming_the_limit(stream: bool) -> None:
    started, cancelled = anyio.Event(), []
    app = ProgramMiddleware(_hanging(started, cancelled))
    body = {"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        with anyio.fail_after(30):  # before the fix, the header was ignored and the call ran forever
            response = await client.post("/v1/chat/completions", json=body,
                                         headers={"X-Agentrt-Program": "slow", "X-Agentrt-Timeout": "0.2"})
        bad = [await client.post("/v1/chat/completions", json=body, headers={"X-Agentrt-Timeout": v})
               for v in ("soon", "0", "inf")]
        program = (await client.get("/v1/programs/slow")).json()
    assert cancelled == ["stream" if stream else "json"]  # vLLM's handler was cancelled: it aborts the request
    if stream:
        assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n")
        error = json.loads(response.text.split("data: ")[-2])["error"]
    else:
        assert response.status_code == 504
        error = response.json()["error"]
    assert (error["type"], error["code"]) == ("timeout_error", "request_timeout")
    assert "timeout of 0.2 s (the X-Agentrt-Timeout header)" in error["message"]
    assert [r.status_code for r in bad] == [400] * 3 and {r.json()["error"]["param"] for r in bad} == {"X-Agentrt-Timeout"}
    assert (program["num_calls"], program["num_in_flight"], program["state"]) == (1, 0, "active")


async def test_the_servers_default_timeout_comes_from_agentrt_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, "0.2")
    seen: list[dict[str, Any]] = []
    started, cancelled = anyio.Event(), []
    slow, quick = ProgramMiddleware(_hanging(started, cancelled)), ProgramMiddleware(_stand_in(seen))
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=slow), base_url="http://test") as client:
        with anyio.fail_after(30):
            cut = await client.post("/v1/chat/completions", json=body)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=quick), base_url="http://test") as client:
        within = await client.post("/v1/chat/completions", json=body)
    assert cut.status_code == 504 and "timeout of 0.2 s (the server's --request-timeout)" in cut.json()["error"]["message"]
    assert within.status_code == 200 and len(seen) == 1


class _Rpc:
    """What /metrics asks of vLLM's engine client: the plugin's snapshot (control.py)."""

    errored = False

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.snapshot, self.ops = snapshot, list[str]()

    async def collective_rpc(self, method: str, args: tuple[str, dict[str, Any]]) -> list[dict[str, Any]]:
        self.ops.append(args[0])
        return [self.snapshot]


async def test_metrics_append_agentrts_gauges_with_the_plugins_kv_to_vllms() -> None:
    async def vllm_metrics(request: Request) -> Response:
        assert "gzip" not in request.headers.get("accept-encoding", "")  # appended to: must be plain text
        return Response(b"vllm:up 1.0\n", media_type="text/plain")

    stand_in = _stand_in([])
    stand_in.add_route("/metrics", vllm_metrics)
    app = ProgramMiddleware(stand_in)
    app.engine_client = rpc = _Rpc({"num_gpu_blocks": 40, "num_free_blocks": 33, "num_pinned_blocks": 5,
                                     "num_pin_hits": 2, "num_pins_created": 3, "num_preemptions": 1, "num_waiting": 4})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        await client.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "a"}]},
                          headers={"X-Agentrt-Program": "one"})
        response = await client.get("/metrics", headers={"Accept-Encoding": "gzip"})
    samples = {line.split()[0]: float(line.split()[1]) for line in response.text.splitlines()
               if line and not line.startswith("#")}
    assert response.status_code == 200 and samples["vllm:up"] == 1
    assert (samples["agentrt_kv_blocks"], samples["agentrt_kv_used_blocks"], samples["agentrt_kv_pinned_blocks"]) == (40, 7, 5)
    assert (samples["agentrt_engine_waiting_calls"], samples["agentrt_programs_active"]) == (4, 1)
    assert rpc.ops == ["stats"]


async def test_a_stream_the_engine_dies_under_ends_with_the_typed_error_event() -> None:
    client_state = _EngineClient()

    async def chat(request: Request) -> Response:
        async def events() -> Any:
            yield f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': 'a'}}]})}\n\n"
            client_state.errored = True  # what vLLM streams when its engine core dies mid-call
            yield 'data: {"error": {"message": "EngineCore encountered an issue.", "type": "InternalServerError", "code": 500}}\n\n'
            yield "data: [DONE]\n\n"
        return StreamingResponse(events(), media_type="text/event-stream")

    app = ProgramMiddleware(Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])]))
    app.engine_client = client_state
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/v1/chat/completions", headers={"X-Agentrt-Program": "victim"},
                                     json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
        program = (await client.get("/v1/programs/victim")).json()
    events = [e.removeprefix("data: ") for e in response.text.split("\n\n") if e]
    assert events[-1] == "[DONE]" and json.loads(events[0])["choices"][0]["delta"]["content"] == "a"
    error = json.loads(events[-2])["error"]
    assert (error["code"], error["type"]) == ("engine_unavailable", "server_error") and "EngineDeadError" in error["message"]
    assert len(events) == 3 and (program["num_calls"], program["num_in_flight"]) == (1, 0)
