"""bodies.read_body answers as FastAPI's own body handling does: the same status and OpenAI error
body for every malformed body, and the same model for every body FastAPI accepts."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from starlette.routing import Route

from agentrt.serve import bodies, errors
from agentrt.serve.protocol import ChatCompletionRequest, CompletionRequest

CHAT = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
CASES: list[tuple[bytes, str | None]] = [
    (CHAT, "application/json"),
    (CHAT, "application/json; charset=utf-8"),
    (CHAT, "application/vnd.api+json"),
    (CHAT, "Application/JSON"),
    (CHAT, "text/plain"),
    (CHAT, None),
    (b"", "application/json"),
    (b"{", "application/json"),
    (b"[1, 2", "application/json"),
    (b"\xff\xfe{}", "application/json"),
    (b'{"model": "m", "messages": []}', "application/json"),
    (b'{"model": 3, "messages": [{"role": "user", "content": "hi"}]}', "application/json"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "\\ud800"}]}', "application/json"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": NaN}', "application/json"),
    (b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}', "application/json"),
    (b'{"model": "m", "prompt": ["a", "b"]}', "application/json"),
    (b'{"model": "m", "prompt": "a", "max_tokens": "7"}', "application/json"),
    (b'"just a string"', "application/json"),
]


def _clients(model: type[ChatCompletionRequest] | type[CompletionRequest]) -> tuple[TestClient, TestClient]:
    async def fastapi_way(body: Any) -> dict[str, Any]:
        return _summary(body)

    fastapi_way.__annotations__["body"] = model  # FastAPI reads the body's model from the annotation

    async def ours(request: Request) -> JSONResponse:
        return JSONResponse(_summary(await bodies.read_body(request, model)))

    reference, fast = FastAPI(), FastAPI()
    reference.post("/x")(fastapi_way)
    fast.router.routes.append(Route("/x", ours, methods=["POST"]))
    for app in (reference, fast):
        errors.install(app)
    return TestClient(reference), TestClient(fast)


def _summary(body: ChatCompletionRequest | CompletionRequest) -> dict[str, Any]:
    """What the body holds, in ASCII (a lone surrogate cannot be encoded in a response)."""
    return {"repr": ascii(body.model_dump())}


@pytest.mark.parametrize("model", [ChatCompletionRequest, CompletionRequest], ids=["chat", "completions"])
@pytest.mark.parametrize(("body", "content_type"), CASES)
def test_read_body_answers_as_fastapi(model: type[ChatCompletionRequest] | type[CompletionRequest], body: bytes,
                                      content_type: str | None) -> None:
    reference, fast = _clients(model)
    headers = {"content-type": content_type} if content_type else {}
    expected = reference.post("/x", content=body, headers=headers)
    got = fast.post("/x", content=body, headers=headers)
    assert (got.status_code, got.text) == (expected.status_code, expected.text)


def test_cases_reach_both_outcomes() -> None:
    """The cases above include bodies FastAPI accepts and bodies it refuses, of each kind."""
    reference, _ = _clients(ChatCompletionRequest)
    statuses = [reference.post("/x", content=b, headers={"content-type": c} if c else {}).status_code
                for b, c in CASES]
    assert 200 in statuses and 400 in statuses
