"""Fault: the simulated engine's background work dies while `agentrt serve` runs. The call in
flight ends at once with a 503 in OpenAI's error shape (not a hang), later calls get the same 503,
`/health` answers 503 and says why, and what finished stays readable (/v1/programs, /metrics)."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from agentrt.serve.app import SimServer
from in_process import DyingEngine, long_call, serving, short_call, sim_server, used_blocks, wait_until

pytestmark = pytest.mark.timeout(120)


def test_engine_death_fails_calls_with_503_and_health_says_why() -> None:
    async def main() -> None:
        server = sim_server(lambda: DyingEngine(num_gpu_blocks=4096))
        async with serving(server) as client:
            assert (await client.get("/health")).json() == {"status": "ok"}
            done = await client.post("/v1/chat/completions", json=short_call("before"),
                                     headers={"X-Agentrt-Program": "finished"})
            assert done.status_code == 200
            victim = asyncio.ensure_future(client.post("/v1/chat/completions", json=long_call("victim"),
                                                       headers={"X-Agentrt-Program": "victim"}))
            await wait_until(lambda: _holds_blocks(server))  # the victim's call is running
            await server.engine.read(lambda engine: engine.kill())  # type: ignore[attr-defined]
            with anyio.fail_after(30):  # before the fix: it waited forever for the dead engine
                in_flight = await victim
            later = await client.post("/v1/chat/completions", json=short_call("after"))
            health = await client.get("/health")
            programs = {p["id"]: p for p in (await client.get("/v1/programs")).json()["data"]}
            metrics = (await client.get("/metrics")).text
            deleted = await client.delete("/v1/programs/victim")

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
        assert deleted.status_code == 200 and deleted.json()["end_reason"] == "deleted"
        assert 'agentrt_requests_total{endpoint="chat",status="200"} 1.0' in metrics
        assert 'agentrt_requests_total{endpoint="chat",status="503"} 1.0' in metrics  # the later one is not admitted

    asyncio.run(main())


async def _holds_blocks(server: SimServer) -> bool:
    return await used_blocks(server) > 0
