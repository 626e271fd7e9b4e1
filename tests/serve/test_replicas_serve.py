"""`agentrt serve --replicas 2`: the OpenAI-compatible server over simulated replicas behind the router."""

from __future__ import annotations

import httpx
import openai
from serve_process import programs, running_server


def test_serve_routes_programs_across_replicas() -> None:
    with running_server("--responder", "tests/serve/responders.py:echo", "--served-model-name", "m",
                        "--num-gpu-blocks", "512", "--time-scale", "10", "--replicas", "2") as url:
        with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0) as client:
            for name in ("alpha", "beta"):
                messages = [{"role": "user", "content": f"{name} one two"}]
                for _ in range(2):
                    reply = client.chat.completions.create(model="m", messages=messages, max_tokens=20,  # type: ignore[arg-type]
                                                           extra_headers={"X-Agentrt-Program": name})
                    messages += [{"role": "assistant", "content": reply.choices[0].message.content or ""},
                                 {"role": "user", "content": "again"}]
            assert reply.choices[0].message.content == "again"
            seen = programs(url)
            assert seen["alpha"]["num_calls"] == seen["beta"]["num_calls"] == 2
            metrics = httpx.get(f"{url}/metrics").text
    assert "agentrt_kv_blocks 1024.0" in metrics  # two replicas of 512 blocks, summed
    for replica in "01":  # one program on each (most free KV first), both calls of each there
        assert f'agentrt_replica_calls{{replica="{replica}"}} 2.0' in metrics
        assert f'agentrt_replica_alive{{replica="{replica}"}} 1.0' in metrics
