"""Load: 1,000 programs at once over HTTP against `agentrt serve --engine sim` (loopback), each a
three-turn conversation. Errors only as designed: beyond the admission bound a request gets 429
with Retry-After, and the client that waits that long and retries is served; every other request
is answered 200, every program finishes all its calls, and the server counts them all."""

from __future__ import annotations

import asyncio
import resource
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from serve_process import programs, running_server

pytestmark = pytest.mark.timeout(600)
MODEL = "sim-llama"
NUM_PROGRAMS = 1000
NUM_TURNS = 3
MAX_IN_FLIGHT = 200  # below NUM_PROGRAMS, so that the bound is reached


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    # a socket per program on each side: lift the open-file limit (often 1,024) for this process
    # and the server it starts (which inherits it)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * NUM_PROGRAMS if hard == resource.RLIM_INFINITY else min(hard, 4 * NUM_PROGRAMS)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    # at --time-scale 100 a client 0.6 s late (a loaded machine, a Retry-After wait) is 60 simulated s
    # idle: the idle timeout must not end a program between its turns
    with running_server("--served-model-name", MODEL, "--time-scale", "100", "--max-in-flight",
                        str(MAX_IN_FLIGHT), "--idle-timeout", "100000") as base:
        yield base


async def _program(client: httpx.AsyncClient, name: str, statuses: Counter[int], waits: list[int],
                   latencies: list[float]) -> int:
    """A conversation of NUM_TURNS calls; returns the calls answered."""
    messages = [{"role": "user", "content": f"task {name}: " + "context " * 50}]
    answered = 0
    while answered < NUM_TURNS:
        start = time.monotonic()
        response = await client.post("/v1/chat/completions", headers={"X-Agentrt-Program": name}, json={
            "model": MODEL, "messages": messages, "max_tokens": 20, "ignore_eos": True})
        statuses[response.status_code] += 1
        if response.status_code == 429:  # as designed: wait as told, then retry
            waits.append(int(response.headers["retry-after"]))
            await asyncio.sleep(waits[-1])
            continue
        assert response.status_code == 200, response.text
        latencies.append(time.monotonic() - start)
        messages += [response.json()["choices"][0]["message"], {"role": "user", "content": "go on"}]
        answered += 1
    return answered


def test_a_thousand_concurrent_programs_get_200_or_429_with_retry_after(url: str) -> None:
    statuses: Counter[int] = Counter()
    waits: list[int] = []
    latencies: list[float] = []

    async def main() -> list[int]:
        limits = httpx.Limits(max_connections=NUM_PROGRAMS, max_keepalive_connections=NUM_PROGRAMS)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=300) as client:
            return list(await asyncio.gather(*(_program(client, f"load-{i}", statuses, waits, latencies)
                                                for i in range(NUM_PROGRAMS))))

    start = time.monotonic()
    answered = asyncio.run(main())
    wall = time.monotonic() - start
    seen = programs(url)
    latencies.sort()
    print(f"{NUM_PROGRAMS} programs x {NUM_TURNS} calls in {wall:.1f} s wall; statuses {dict(statuses)}; "
          f"Retry-After {min(waits, default=0)}-{max(waits, default=0)} s; latency of answered calls p50 "
          f"{latencies[len(latencies) // 2] * 1000:.0f} ms, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms")
    assert answered == [NUM_TURNS] * NUM_PROGRAMS
    assert set(statuses) == {200, 429} and statuses[200] == NUM_PROGRAMS * NUM_TURNS
    assert all(w >= 1 for w in waits) and len(waits) == statuses[429]
    load = {k: v for k, v in seen.items() if k.startswith("load-")}
    assert len(load) == NUM_PROGRAMS and {p["num_calls"] for p in load.values()} == {NUM_TURNS}
