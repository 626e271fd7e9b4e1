"""OpenAI-shaped error responses: `{"error": {"message", "type", "param", "code"}}` with a 4xx/5xx.

FastAPI's own validation errors (malformed JSON, a missing field, a value out of range) become 400s
naming the field, as OpenAI's API answers them, instead of FastAPI's 422 list; its other HTTP errors
(a body that is not UTF-8, an unknown path, a wrong method) keep their status in the same shape.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from agentrt.exceptions import ServeError


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None) -> dict[str, object]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(exc: ServeError) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return JSONResponse(error_body(exc.message, exc.kind, exc.param, exc.code), status_code=exc.status,
                        headers=headers)


def _field(loc: tuple[object, ...]) -> str | None:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or None


def validation_error(exc: RequestValidationError) -> ServeError:
    first = exc.errors()[0] if exc.errors() else {}
    param = _field(tuple(first.get("loc", ())))
    if first.get("type") == "json_invalid":
        return ServeError(400, f"the body is not valid JSON: {first.get('ctx', {}).get('error', 'parse error')}",
                          code="invalid_json")
    message = f"{param or 'body'}: {first.get('msg', 'invalid value')}"
    if "input" in first and param is not None:
        message += f" (got {str(first['input'])[:100]!r})"
    return ServeError(400, message, param=param, code="invalid_value")


_HTTP_CODES = {400: "invalid_body", 404: "not_found", 405: "method_not_allowed"}


def install(app: FastAPI) -> None:
    """Register the handlers that turn errors into OpenAI-shaped responses."""

    async def on_serve_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServeError)
        return error_response(exc)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(validation_error(exc))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        kind = "server_error" if exc.status_code >= 500 else "invalid_request_error"
        return JSONResponse(error_body(str(exc.detail), kind, code=_HTTP_CODES.get(exc.status_code)),
                            status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(ServeError, on_serve_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
