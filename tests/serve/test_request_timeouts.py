"""Per-request timeouts of `agentrt serve` (sim): a call past its limit (the X-Agentrt-Timeout
header, else the server's --request-timeout) is aborted, its KV freed, and answered with a 504 in
OpenAI's error shape naming the limit; a call within it is untouched; a bad header is a 400."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from agentrt.serve.app import SimServer
from in_process import long_call, serving, short_call, sim_server, used_blocks, wait_until

pytestmark = pytest.mark.timeout(120)


def test_a_call_past_its_timeout_is_aborted_with_504_and_its_kv_freed() -> None:
    async def main() -> None:
        server = sim_server(request_timeout=3600)
        async with serving(server) as client:
            within = await client.post("/v1/chat/completions", json=short_call("quick"),
                                       headers={"X-Agentrt-Timeout": "30"})
            with anyio.fail_after(30):
                by_header = await client.post("/v1/chat/completions", json=long_call("slow"),
                                              headers={"X-Agentrt-Program": "slow", "X-Agentrt-Timeout": "0.5"})
                await wait_until(lambda: _freed(server))  # the abort freed its blocks
            program = (await client.get("/v1/programs/slow")).json()
            bad = [await client.post("/v1/chat/completions", json=short_call("bad"), headers={"X-Agentrt-Timeout": v})
                   for v in ("soon", "0", "-1", "nan", "inf")]
            again = await client.post("/v1/chat/completions", json=short_call("still serving"))

        assert within.status_code == 200 and again.status_code == 200
        assert by_header.status_code == 504
        error = by_header.json()["error"]
        assert (error["type"], error["code"]) == ("timeout_error", "request_timeout")
        assert "timeout of 0.5 s (the X-Agentrt-Timeout header)" in error["message"]
        assert (program["num_calls"], program["num_in_flight"], program["state"]) == (1, 0, "active")
        assert [r.status_code for r in bad] == [400] * 5
        assert {r.json()["error"]["param"] for r in bad} == {"X-Agentrt-Timeout"}

    asyncio.run(main())


async def _freed(server: SimServer) -> bool:
    return await used_blocks(server) == 0


def test_the_servers_default_timeout_applies_without_a_header() -> None:
    async def main() -> None:
        server = sim_server(request_timeout=0.5)
        async with serving(server) as client:
            with anyio.fail_after(30):
                response = await client.post("/v1/chat/completions", json=long_call("default"))
                await wait_until(lambda: _freed(server))
            longer = await client.post("/v1/chat/completions", json=short_call("quick"),
                                       headers={"X-Agentrt-Timeout": "60"})
        assert response.status_code == 504
        assert "timeout of 0.5 s (the server's --request-timeout)" in response.json()["error"]["message"]
        assert longer.status_code == 200

    asyncio.run(main())
