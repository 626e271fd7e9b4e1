"""The `openai` SDK against `agentrt serve --engine sim`: chat and completions, streaming and not,
parallel requests of one program, and errors in OpenAI's shape."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import openai
import pytest

from serve_process import programs, running_server

MODEL = "sim-llama"


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running_server("--responder", "tests/serve/responders.py:echo", "--served-model-name", MODEL,
                        "--num-gpu-blocks", "512", "--time-scale", "1") as base:
        yield base


@pytest.fixture
def client(url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as c:
        yield c


def test_chat_answers_with_the_responders_text_and_counts_tokens(client: openai.OpenAI) -> None:
    out = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "one two three"}], max_tokens=50)
    reply = out.parse()
    assert reply.choices[0].message.content == "three two one"
    assert reply.choices[0].finish_reason == "stop" and reply.usage is not None
    assert reply.usage.completion_tokens == 3 and reply.usage.prompt_tokens > 0
    program = out.headers["x-agentrt-program"]
    assert programs(str(client.base_url).removesuffix("/v1/"))[program]["num_calls"] == 1


def test_chat_streams_the_same_text(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "a b c d"}],
                                            stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text == "d c b a" and finish == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


def test_completions_streaming_and_not(client: openai.OpenAI) -> None:
    plain = client.completions.create(model=MODEL, prompt="x y", max_tokens=8)
    assert plain.choices[0].text == "y x" and plain.usage is not None and plain.usage.completion_tokens == 2
    limited = client.completions.create(model=MODEL, prompt="w x y z", max_tokens=2, extra_body={"ignore_eos": True})
    assert limited.usage is not None and limited.usage.completion_tokens == 2 and limited.choices[0].finish_reason == "length"
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=MODEL, prompt="x y", max_tokens=8, stream=True) if c.choices)
    assert streamed == "y x"


def test_completions_extending_a_prompt_and_its_completion_continue_its_program(client: openai.OpenAI,
                                                                                url: str) -> None:
    prompt = "completions task " + "alpha beta gamma " * 40
    first = client.completions.with_raw_response.create(model=MODEL, prompt=prompt, max_tokens=200)
    prompt += first.parse().choices[0].text + "\nobservation: two tests failed\n"
    second = client.completions.create(model=MODEL, prompt=prompt, max_tokens=200, stream=True)
    prompt += "".join(c.choices[0].text for c in second if c.choices) + "\nobservation: all pass\n"
    third = client.completions.with_raw_response.create(model=MODEL, prompt=prompt, max_tokens=200)
    other = client.completions.with_raw_response.create(model=MODEL, prompt="another task " * 40, max_tokens=5)
    program = first.headers["x-agentrt-program"]
    assert third.headers["x-agentrt-program"] == program != other.headers["x-agentrt-program"]
    seen = programs(url)[program]
    assert (seen["num_calls"], seen["identified_by"], seen["inferred"]) == (3, "new", True)
    assert programs(url)[other.headers["x-agentrt-program"]]["num_calls"] == 1


def test_a_conversation_is_one_inferred_program_and_parallel_extensions_are_branches(url: str) -> None:
    async def run() -> tuple[str, list[str]]:
        async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client:
            return await _branches(client)

    async def _branches(client: openai.AsyncOpenAI) -> tuple[str, list[str]]:
        first = [{"role": "user", "content": "branching task " + "word " * 20}]
        raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=first, max_tokens=300)
        answer = raw.parse().choices[0].message
        history = [*first, {"role": "assistant", "content": answer.content}]
        # three branches at once; each generates 300 tokens, so all three are in flight together
        outs = await asyncio.gather(*(client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[*history, {"role": "user", "content": f"branch {i} " + "go " * 299}],
            max_tokens=300) for i in range(3)))
        return raw.headers["x-agentrt-program"], [o.headers["x-agentrt-program"] for o in outs]

    program, branches = asyncio.run(run())
    assert branches == [program] * 3
    seen = programs(url)[program]
    assert (seen["num_calls"], seen["num_branch_calls"], seen["max_parallel_calls"]) == (4, 2, 3)
    assert seen["identified_by"] == "new" and seen["inferred"] is True


def test_parallel_requests_named_by_a_header_are_one_program(url: str) -> None:
    async def run() -> None:
        async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0,
                                      default_headers={"X-Agentrt-Program": "job-7"}) as client:
            await asyncio.gather(*(client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": f"part {i}"}], max_tokens=4) for i in range(5)))

    asyncio.run(run())
    seen = programs(url)["job-7"]
    assert seen["num_calls"] == 5 and seen["identified_by"] == "header:x-agentrt-program"


def test_other_conventions_name_the_program(client: openai.OpenAI, url: str) -> None:
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                   extra_body={"vllm_xargs": {"program_id": "xargs-1"}})
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                   extra_headers={"X-Session-ID": "gym-1"})
    seen = programs(url)
    assert seen["xargs-1"]["identified_by"] == "body:vllm_xargs.program_id"
    assert seen["gym-1"]["identified_by"] == "header:x-session-id"


def test_delete_ends_a_program_and_a_last_call_header_ends_it_too(client: openai.OpenAI, url: str) -> None:
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                   extra_headers={"X-Agentrt-Program": "to-delete"})
    gone = httpx.delete(f"{url}/v1/programs/to-delete").json()
    assert gone["deleted"] is True and gone["end_reason"] == "deleted"
    again = httpx.delete(f"{url}/v1/programs/to-delete")
    assert again.status_code == 404 and again.json()["error"]["code"] == "program_not_found"
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "bye"}],
                                   extra_headers={"X-Agentrt-Program": "last", "X-Agentrt-Program-End": "1"})
    assert programs(url, "ended")["last"]["end_reason"] == "last_call"
    assert "last" not in programs(url, "active")


def test_errors_come_in_openais_shape_naming_the_field(client: openai.OpenAI, url: str) -> None:
    with pytest.raises(openai.NotFoundError) as unknown:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert unknown.value.code == "model_not_found" and unknown.value.param == "model"
    with pytest.raises(openai.BadRequestError) as hot:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], temperature=5)
    assert hot.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as many:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], n=2)
    assert many.value.param == "n"
    with pytest.raises(openai.BadRequestError) as long:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "word " * 20_000}])
    assert long.value.code == "context_length_exceeded" and "KV cache" in long.value.message
    broken = httpx.post(f"{url}/v1/chat/completions", content=b'{"model": "sim-llama", "messages": [',
                        headers={"content-type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "invalid_json"
    missing = httpx.post(f"{url}/v1/completions", json={"model": MODEL})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "prompt"
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    assert [m.id for m in client.models.list()] == [MODEL]
