"""`agentrt_programs_gated` in /metrics: the programs whose calls residency gating holds back, as
the simulated engine's scheduler counts them, over HTTP with a real client."""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from agentrt.engine_adapters.base import text_to_tokens
from agentrt.runtime.scheduling.policies import PolicyConfig
from agentrt.serve.responses import messages_text
from serve_process import metric, running_server

MODEL = "sim-llama"
NUM_BLOCKS, BLOCK_SIZE = 64, 16
NUM_PROGRAMS = 4


def _messages(program: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"{program} " + "context " * 190}]


def test_gated_programs_are_those_that_do_not_fit_the_working_set() -> None:
    names = [f"p{i}" for i in range(NUM_PROGRAMS)]
    prompt_tokens = len(text_to_tokens(messages_text(_messages(names[0]))))
    budget = PolicyConfig(name="agentrt").residency_fraction * NUM_BLOCKS * BLOCK_SIZE  # type: ignore[operator]
    num_resident = math.floor(budget / prompt_tokens)
    expected = NUM_PROGRAMS - num_resident
    assert 0 < expected < NUM_PROGRAMS and num_resident * (prompt_tokens + 30) < NUM_BLOCKS * BLOCK_SIZE

    with running_server("--served-model-name", MODEL, "--num-gpu-blocks", str(NUM_BLOCKS), "--time-scale", "0.1",
                        "--policy", "agentrt") as url:
        def call(name: str) -> int:
            body = {"model": MODEL, "messages": _messages(name), "max_tokens": 30, "ignore_eos": True}
            head = {"X-Agentrt-Program": name, "X-Agentrt-Program-End": "1"}
            return httpx.post(f"{url}/v1/chat/completions", json=body, headers=head, timeout=120).status_code

        with ThreadPoolExecutor(NUM_PROGRAMS) as pool:
            statuses = pool.map(call, names)
            deadline = time.monotonic() + 60
            while (gated := metric(url, "agentrt_programs_gated")) != expected:  # wait for all to arrive
                assert time.monotonic() < deadline, f"agentrt_programs_gated stayed at {gated}, not {expected}"
                time.sleep(0.02)
            assert list(statuses) == [200] * NUM_PROGRAMS
        assert metric(url, "agentrt_programs_gated") == 0  # each ended after its call: the rest joined
