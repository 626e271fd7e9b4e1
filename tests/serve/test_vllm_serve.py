"""`agentrt serve --engine vllm`: vLLM's own OpenAI server (CPU build, tiny random model) with
agentrt's scheduler plugin and program middleware, driven by the `openai` SDK."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from serve_process import programs, running_vllm_server

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(900)]  # the first test also waits for vLLM to start
MODEL = "tiny"


@pytest.fixture(scope="module")
def url(tiny_model: Path) -> Iterator[str]:
    with running_vllm_server("--model", str(tiny_model), "--served-model-name", MODEL) as base:
        yield base


def test_chat_and_completions_streaming_and_not(url: str) -> None:
    with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client:
        chat = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hello"}],
                                              max_tokens=6, extra_body={"ignore_eos": True})
        assert chat.usage is not None and chat.usage.completion_tokens == 6
        streamed = list(client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hello"}], max_tokens=6, stream=True,
            stream_options={"include_usage": True}, extra_body={"ignore_eos": True}))
        assert streamed[-1].usage is not None and streamed[-1].usage.completion_tokens == 6
        text = client.completions.create(model=MODEL, prompt="one two", max_tokens=4, extra_body={"ignore_eos": True})
        assert text.usage is not None and text.usage.completion_tokens == 4
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


def test_the_scheduler_plugin_gets_each_calls_program(url: str) -> None:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "plugin check"}], "max_tokens": 3}
    out = httpx.post(f"{url}/v1/chat/completions", json=body, headers={"X-Agentrt-Program": "plugged"}, timeout=120)
    assert out.status_code == 200 and out.headers["x-agentrt-program"] == "plugged"
    record = out.json()["kv_transfer_params"]["agentrt"]  # the plugin's accounting of the call
    assert record["call_id"].startswith("plugged.") and record["service_time"] > 0


def test_a_conversation_and_parallel_requests_are_programs(url: str) -> None:
    async def run() -> None:
        async with openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client:
            first = [{"role": "user", "content": "inferred conversation"}]
            answer = (await client.chat.completions.create(model=MODEL, messages=first, max_tokens=4)).choices[0].message
            await client.chat.completions.create(model=MODEL, max_tokens=4, messages=[
                *first, {"role": "assistant", "content": answer.content}, {"role": "user", "content": "more"}])
            await asyncio.gather(*(client.chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": f"part {i}"}], max_tokens=4,
                extra_headers={"X-Agentrt-Program": "parallel"}) for i in range(4)))

    asyncio.run(run())
    seen = programs(url)
    assert seen["parallel"]["num_calls"] == 4
    inferred = [p for p in seen.values() if p["identified_by"] == "new" and p["num_calls"] == 2]
    assert len(inferred) == 1
    gone = httpx.delete(f"{url}/v1/programs/parallel").json()
    assert gone["deleted"] is True
