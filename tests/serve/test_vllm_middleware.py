"""The program middleware that fronts vLLM's server, around a recording stand-in for vLLM's app:
each call's metadata reaches the body as `vllm_xargs["agentrt"]` (what the scheduler plugin parses),
answers (JSON or SSE) are remembered for inference, and /v1/programs is served."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agentrt.engine_adapters.vllm.records import parse_meta
from agentrt.serve.vllm_middleware import ProgramMiddleware

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


async def test_unknown_programs_are_404_in_openais_shape() -> None:
    app = ProgramMiddleware(_stand_in([]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        gone = await client.delete("/v1/programs/nope")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "program_not_found"
    await anyio.lowlevel.checkpoint()


def _hanging(started: anyio.Event, cancelled: list[str]) -> Starlette:
    """Answers nothing: each chat request (after one chunk, when streamed) waits until cancelled,
    as a call still generating in vLLM does; a cancelled handler is what makes vLLM abort it."""

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
        await wait()
        raise AssertionError("not reached")

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
