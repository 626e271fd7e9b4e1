"""Two stand-in servers for `serve_http.py --floor`: what a chat request costs before agentrt does
anything. Each answers every POST with the same fixed chat completion and the timing headers the
benchmark reads (engine time 0).

- `bare`: a pure ASGI app under uvicorn + httptools + uvloop: HTTP parsing, the socket, one
  `json.loads` of the body and one `json.dumps` of the answer.
- `validated`: FastAPI with agentrt's `ChatCompletionRequest` as the body model (routing,
  pydantic validation, JSONResponse), as `agentrt serve` receives a request.

    python -m uvicorn --app-dir benchmarks serve_floor_apps:bare --port P --log-level warning
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from agentrt.serve.protocol import ChatCompletionRequest

ANSWER = {"id": "chatcmpl-0", "object": "chat.completion", "created": 0, "model": "sim",
          "choices": [{"index": 0, "finish_reason": "length",
                       "message": {"role": "assistant", "content": "lorem ipsum dolor sit amet consectetur"}}],
          "usage": {"prompt_tokens": 1, "completion_tokens": 8, "total_tokens": 9}}
HEADERS = {"x-agentrt-engine-time": "0", "x-agentrt-server-time": "0"}


async def bare(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    json.loads(body or b"{}")
    out = json.dumps(ANSWER).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode()),
                            *((k.encode(), v.encode()) for k, v in HEADERS.items())]})
    await send({"type": "http.response.body", "body": out})


validated = FastAPI()


@validated.post("/v1/chat/completions")
async def chat(body: ChatCompletionRequest) -> JSONResponse:
    return JSONResponse(ANSWER, headers=HEADERS)
