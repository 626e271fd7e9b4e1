"""What schemathesis found against `agentrt serve`'s schema, each fixed and kept here as a
reproduction, and generated values of agentrt's own headers (not in the OpenAPI schema): every
request is answered, a 4xx in OpenAI's error shape when refused, never a 5xx."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Iterator
from urllib.parse import unquote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from in_process import MODEL, serving, short_call, sim_server
from serve_process import running_server

pytestmark = pytest.mark.timeout(300)


def _shaped(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and set(body.get("error", {})) == {"message", "type", "param", "code"}


def test_found_huge_max_tokens_is_refused_before_any_text_is_written() -> None:
    """max_tokens 1e9 made the server write a filler of a billion words (19 GB) before the engine refused it."""
    async def main() -> tuple[list[httpx.Response], int]:
        async with serving(sim_server()) as client:
            tracemalloc.start()
            chat = await client.post("/v1/chat/completions", json=short_call("x") | {"max_tokens": 10**7})
            text = await client.post("/v1/completions", json={"model": MODEL, "prompt": "x", "max_tokens": 10**7})
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            return [chat, text], peak

    responses, peak = asyncio.run(main())
    for response in responses:
        assert response.status_code == 400 and _shaped(response)
        assert response.json()["error"]["code"] == "context_length_exceeded"
        assert "max_tokens (10000000) exceeds the model's context length (131072 tokens)" in response.text
    assert peak < 20 << 20, peak  # a filler of 1e7 words alone is > 500 MB


def test_found_a_program_named_outside_latin1_is_served_and_its_header_percent_encoded() -> None:
    """A program id from the body (here `prompt_cache_key`) that a header cannot carry was a 500."""
    name = "agent \U000dc53e\n日本"

    async def main() -> tuple[httpx.Response, dict[str, object]]:
        async with serving(sim_server()) as client:
            response = await client.post("/v1/chat/completions", json=short_call("x") | {"prompt_cache_key": name})
            streamed = await client.post("/v1/chat/completions", json=short_call("y") | {"prompt_cache_key": name,
                                                                                         "stream": True})
            assert streamed.status_code == 200 and streamed.headers["x-agentrt-program"] == response.headers[
                "x-agentrt-program"]
            program = (await client.get(f"/v1/programs/{response.headers['x-agentrt-program']}")).json()
            return response, program

    response, program = asyncio.run(main())
    assert response.status_code == 200
    assert unquote(response.headers["x-agentrt-program"]) == name == program["id"]
    assert program["num_calls"] == 2


def test_found_a_body_that_is_not_utf8_is_a_400_in_openais_shape() -> None:
    """FastAPI answered `{"detail": "There was an error parsing the body"}` (and {"detail": "Not Found"})."""
    async def main() -> list[httpx.Response]:
        async with serving(sim_server()) as client:
            return [await client.post("/v1/chat/completions", content=b"\xff\xfe{", headers={"content-type": "application/json"}),
                    await client.get("/v1/nothing-here"), await client.put("/v1/chat/completions")]

    bad_body, unknown, method = asyncio.run(main())
    assert (bad_body.status_code, unknown.status_code, method.status_code) == (400, 404, 405)
    assert all(_shaped(r) for r in (bad_body, unknown, method))


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running_server("--served-model-name", MODEL, "--time-scale", "1000", max_memory=3 << 30) as base:
        yield base


# what HTTP lets a header value carry (visible ASCII, space, Latin-1); uvicorn refuses the rest itself
_HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=40)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers=st.dictionaries(st.sampled_from(["X-Agentrt-Program", "X-Agentrt-Timeout", "X-Agentrt-Program-End",
                                                "X-Agentrt-Expected-Tool-Time", "X-Session-ID", "x-fairness-id"]),
                               _HEADER_TEXT | st.sampled_from(["0", "-1", "1e309", "nan", "inf", "0.001", "1"])))
def test_generated_agentrt_headers_never_get_a_5xx(url: str, headers: dict[str, str]) -> None:
    raw = {name: value.strip().encode("latin-1") for name, value in headers.items()}  # as HTTP trims them
    response = httpx.post(f"{url}/v1/chat/completions", json=short_call("headers"), headers=raw, timeout=60)
    assert response.status_code in (200, 400, 504), (response.status_code, response.text)
    if response.status_code != 200:
        assert _shaped(response), (response.status_code, response.text, headers)
