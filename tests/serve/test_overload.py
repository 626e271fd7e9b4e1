"""Overload and disconnects against `agentrt serve --engine sim`: 429 with Retry-After beyond the
admission bound, a disconnected client's call aborted and its KV freed, and neither touching
another program."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from serve_process import metric, programs, running_server

MODEL = "sim-llama"
LIMIT = 3


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with running_server("--served-model-name", MODEL, "--max-in-flight", str(LIMIT), "--num-gpu-blocks", "4096",
                        "--time-scale", "1") as base:
        yield base


def _long_call(program: str, stream: bool = False) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"{program} " + "context " * 2000}],
            "max_tokens": 20_000, "ignore_eos": True, "stream": stream}


def _wait_for(check: Callable[[], bool], what: str, seconds: float = 60) -> None:
    """Poll an observed server state until it holds (bounded)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_disconnected_stream_is_aborted_and_its_blocks_freed(url: str) -> None:
    baseline = metric(url, "agentrt_kv_used_blocks")
    with httpx.Client(timeout=60) as client:
        with client.stream("POST", f"{url}/v1/chat/completions", json=_long_call("gone", stream=True),
                           headers={"X-Agentrt-Program": "gone"}) as response:
            assert response.status_code == 200
            lines = response.iter_lines()  # kept: dropping the iterator would close the stream here
            assert '"role": "assistant"' in next(lines)
            _wait_for(lambda: metric(url, "agentrt_kv_used_blocks") > baseline + 100, "the call to hold KV blocks")
        # leaving the block closes the connection mid-stream
        _wait_for(lambda: metric(url, "agentrt_kv_used_blocks") == baseline, "the blocks to return to baseline")
        _wait_for(lambda: metric(url, 'agentrt_requests_total{endpoint="chat",status="499"}') == 1, "the abort")
        assert programs(url)["gone"]["num_in_flight"] == 0  # the program lives on; its call is gone
        other = client.post(f"{url}/v1/chat/completions", json={"model": MODEL, "max_tokens": 4,
                            "messages": [{"role": "user", "content": "still fine"}]})
        assert other.status_code == 200


def test_a_flood_gets_429_with_retry_after_and_delete_aborts_the_admitted(url: str) -> None:
    async def flood() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            calls = [asyncio.ensure_future(client.post(f"{url}/v1/chat/completions", json=_long_call("flood"),
                                                       headers={"X-Agentrt-Program": "flood"})) for _ in range(10)]
            while sum(c.done() for c in calls) < 10 - LIMIT:  # the rejected answer at once
                await asyncio.sleep(0.05)
            assert metric(url, "agentrt_requests_in_flight") == LIMIT
            await client.delete(f"{url}/v1/programs/flood")
            return list(await asyncio.gather(*calls))

    responses = asyncio.run(flood())
    rejected = [r for r in responses if r.status_code == 429]
    aborted = [r for r in responses if r.status_code == 409]
    assert (len(rejected), len(aborted)) == (10 - LIMIT, LIMIT)
    assert all(int(r.headers["retry-after"]) >= 1 for r in rejected)
    assert {r.json()["error"]["type"] for r in rejected} == {"rate_limit_error"}
    assert {r.json()["error"]["code"] for r in aborted} == {"program_ended"}
    assert programs(url, "ended")["flood"]["num_calls"] == LIMIT
    _wait_for(lambda: metric(url, "agentrt_kv_used_blocks") == 0, "the flood's blocks to be freed")
    ok = httpx.post(f"{url}/v1/chat/completions", json={"model": MODEL, "max_tokens": 4,
                    "messages": [{"role": "user", "content": "after the flood"}]})
    assert ok.status_code == 200
