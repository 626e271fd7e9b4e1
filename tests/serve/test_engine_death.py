"""Fault: the simulated engine's background work dies while `agentrt serve` runs. The call in
flight ends at once with a 503 in OpenAI's error shape (not a hang), later calls get the same 503,
`/health` answers 503 and says why, and what finished stays readable (/v1/programs, /metrics)."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from agentrt.serve.app import ServeOptions, SimServer
from in_process import MODEL, DyingEngine, long_call, serving, short_call, wait_until

pytestmark = pytest.mark.timeout(120)


def test_engine_death_fails_calls_with_503_and_health_says_why() -> None:
    async def main() -> None:
        engine = DyingEngine(num_gpu_blocks=4096)
        server = SimServer(engine, ServeOptions(model_names=[MODEL]))
        async with serving(server) as client:
            assert (await client.get("/health")).json() == {"status": "ok"}
            done = await client.post("/v1/chat/completions", json=short_call("before"),
                                     headers={"X-Agentrt-Program": "finished"})
            assert done.status_code == 200
            victim = asyncio.ensure_future(client.post("/v1/chat/completions", json=long_call("victim"),
                                                       headers={"X-Agentrt-Program": "victim"}))
            await wait_until(lambda: engine.statistics().num_used_blocks > 0)  # the call holds KV: running
            engine.kill()
            with anyio.fail_after(30):  # before the fix: it waited forever for the dead engine
                in_flight = await victim
            later = await client.post("/v1/chat/completions", json=short_call("after"))
            health = await client.get("/health")
            programs = {p["id"]: p for p in (await client.get("/v1/programs")).json()["data"]}
            metrics = (await client.get("/metrics")).text

        for response in (in_flight, later):
            assert response.status_code == 503
            error = response.json()["error"]
            assert (error["type"], error["code"]) == ("server_error", "engine_unavailable")
            assert "RuntimeError: injected fault: the engine loop crashed" in error["message"]
        assert health.status_code == 503
        assert health.json()["status"] == "engine_dead"
        assert health.json()["reason"] == "RuntimeError: injected fault: the engine loop crashed"
        assert programs["finished"]["num_calls"] == 1 and programs["finished"]["num_in_flight"] == 0
        assert programs["victim"]["num_in_flight"] == 0  # its call failed, it is not left in flight
        assert 'agentrt_requests_total{endpoint="chat",status="200"} 1.0' in metrics
        assert 'agentrt_requests_total{endpoint="chat",status="503"} 1.0' in metrics  # the later one is not admitted

    asyncio.run(main())
