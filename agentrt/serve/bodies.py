"""Request bodies of the hot routes, parsed and validated in one pydantic call.

`/v1/chat/completions` and `/v1/completions` are served by plain Starlette routes placed ahead of
FastAPI's (app.py): FastAPI's routes stay, unreached, for the OpenAPI schema (/openapi.json, which
the schemathesis tests read), while each call skips FastAPI's dependency solving and its two-step
body handling (stdlib `json.loads`, then pydantic on the Python objects). Here pydantic-core parses
the JSON bytes and validates them in one pass.

The answers stay FastAPI's, error for error: the same content-type rules (a body is JSON only when
its content type says so), and a body pydantic's parser rejects as JSON is parsed again FastAPI's
way (stdlib `json`, which accepts what pydantic's parser does not, e.g. lone surrogates and NaN),
so that what FastAPI accepted is accepted and what it refused is refused with its error; so is a
body that fails validation (pydantic's messages differ between its JSON and Python modes).

Alternatives considered: a FastAPI endpoint taking only the Request, with the body's schema given
through `openapi_extra` (the schema's component models would then have to be merged into the
OpenAPI document by hand).
"""

from __future__ import annotations

import email.message
import json
from typing import Any, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request

M = TypeVar("M", bound=BaseModel)


async def read_body(request: Request, model: type[M]) -> M:
    """The request's body as `model`. Raises RequestValidationError (a body that is not JSON, or
    not a valid `model`) or HTTPException 400 (JSON that is not UTF-8), as FastAPI would."""
    raw = await request.body()
    is_json = bool(raw) and _says_json(request.headers.get("content-type"))
    if is_json:
        try:
            return model.model_validate_json(raw)
        except ValidationError:
            pass  # FastAPI's way below, for its exact error (or its acceptance: see the module's note)
    return _validate(model, _decode(raw) if is_json else raw or None)


def _says_json(content_type: str | None) -> bool:
    """FastAPI's rule (strict content type): application/json or application/*+json."""
    if not content_type:
        return False
    if content_type == "application/json" or content_type.startswith("application/json;"):  # the common case
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
    except ValueError as exc:  # not UTF-8
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc


def _validate(model: type[M], value: Any) -> M:
    if value is None:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return model.model_validate(value, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as exc:
        raise RequestValidationError(_in_body(exc), body=value) from None


def _in_body(exc: ValidationError) -> list[dict[str, Any]]:
    return [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
