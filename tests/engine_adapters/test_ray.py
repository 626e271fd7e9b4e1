"""Engine replicas on Ray (a local instance, started once for the module): simulated engines on
the wall clock behind the router, end to end, and a replica killed mid-run."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
import ray

import agentrt
from agentrt.engine_adapters.ray import ray_replicas
from agentrt.engine_adapters.replicas import ReplicatedEngine
from agentrt.exceptions import LLMCallError, ReplicaDiedError
from agentrt.programs.tokens import Tokens
from agentrt.runtime.scheduling.routing import Route


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, object_store_memory=80 * 1024 * 1024)
    yield
    ray.shutdown()


@agentrt.program
async def turns(name: str, n: int, out: int) -> int:
    """`n` LLM calls on a growing context with a short tool gap; a failed call is skipped."""
    context = Tokens.synthetic(256, key=name)
    done_turns = 0
    for i in range(n):
        try:
            done = await agentrt.llm(context + Tokens.synthetic(32, key=f"{name}{i}"), max_tokens=out, ignore_eos=True)
        except LLMCallError as exc:
            errors.append(exc)
            continue
        context = done.context
        done_turns += 1
        await anyio.sleep(0.01)
    return done_turns


errors: list[LLMCallError] = []




def test_two_simulated_replicas_on_ray_run_programs_end_to_end() -> None:
    engines: list[ReplicatedEngine] = []

    async def main() -> list[int]:
        engine = ray_replicas(2, "sim", router="agentrt")
        engines.append(engine)
        async with agentrt.Runtime(engine=engine, policy="agentrt") as rt:
            return await rt.wait([rt.submit(turns, f"p{i}", 3, 8) for i in range(4)])

    assert agentrt.run(main, virtual_time=False) == [3, 3, 3, 3]
    stats = engines[0].statistics()
    assert stats.dead == () and stats.calls_per_replica == (6, 6)  # two programs each: most free KV
    assert stats.routes == {"new-program": 4, "sticky": 8}
    served = [s.num_finished for s in stats.replicas]
    assert served == [6, 6]  # the hosted SimEngines' own counters, fetched from the actors


def test_killing_a_replica_fails_its_calls_and_the_rest_keep_running() -> None:
    errors.clear()
    engines: list[ReplicatedEngine] = []
    on_replica_1 = anyio.Event()

    def routed(request: agentrt.GenerationRequest, route: Route) -> None:
        if route.replica == 1:
            on_replica_1.set()

    async def main() -> list[int]:
        engine = ray_replicas(2, "sim", router="agentrt")
        engine.on_route = routed
        engines.append(engine)
        async with agentrt.Runtime(engine=engine, policy="agentrt") as rt:
            handles = [rt.submit(turns, f"k{i}", 3, 400) for i in range(2)]  # one per replica
            await on_replica_1.wait()
            ray.kill(engine.engines[1].actor)  # type: ignore[attr-defined]
            return await rt.wait(handles)

    assert sorted(agentrt.run(main, virtual_time=False)) == [2, 3]
    stats = engines[0].statistics()
    assert stats.dead == (1,) and stats.calls_per_replica == (3 + 2, 1)
    assert len(errors) == 1 and isinstance(errors[0].__cause__, ReplicaDiedError)
    assert "engine replica 1 died" in str(errors[0].__cause__) and "Ray actor is gone" in str(errors[0].__cause__)
