"""schemathesis against `agentrt serve --engine sim`'s own OpenAPI schema, over loopback: every
operation gets generated requests, valid by the schema and not (wrong types, missing fields, out
of range values, junk headers and paths), and none may get a 5xx. Bounded: a fixed number of
examples per operation, derandomized, so the run is the same each time and takes under a minute."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from serve_process import running_server

pytestmark = pytest.mark.timeout(600)
MODEL = "sim-llama"
EXAMPLES = 40  # per operation and mode


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    # --time-scale 1000: any call the schema allows (up to the 131,072-token context) ends within seconds
    with running_server("--served-model-name", MODEL, "--time-scale", "1000", max_memory=3 << 30) as base:
        yield base


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_no_generated_request_gets_a_5xx(url: str, mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /v1/chat/completions", "POST /v1/completions", "GET /v1/programs", "DELETE /v1/programs/{program_id}"}
    if mode is GenerationMode.NEGATIVE:  # no invalid request without a body or query (any path text is valid)
        operations = [op for op in operations if len(op.body) + len(op.query)]
    seen: dict[int, int] = {}
    for operation in operations:
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: schemathesis.Case) -> None:
            if mode is GenerationMode.POSITIVE and isinstance(case.body, dict):
                case.body["model"] = MODEL  # a served model, so that valid requests reach the engine
            response = case.call(timeout=60)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}\n"
                f"{case.as_curl_command()}")
            if response.status_code >= 400:  # OpenAI's error shape, whatever went wrong
                assert set(response.json()["error"]) == {"message", "type", "param", "code"}, response.text[:500]

        try:
            check()
        except Exception as exc:
            raise AssertionError(f"{operation.method} {operation.path}") from exc
    print(f'{mode.value}: {sum(seen.values())} requests, status counts {dict(sorted(seen.items()))}')
    if mode is GenerationMode.POSITIVE:
        assert seen.get(200, 0) > len(operations)  # valid calls reached the engine and were answered
    else:
        assert seen.get(400, 0) > 0  # invalid bodies are OpenAI-style 400s, not FastAPI's 422
        assert 422 not in seen, seen
