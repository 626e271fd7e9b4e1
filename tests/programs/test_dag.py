"""DAG shape and critical path, built by running real programs on the recording engine."""

from __future__ import annotations

import random

import pytest

import agentrt
from agentrt.engine_adapters.testing import RecordingEngine
from agentrt.programs import dag
from agentrt.programs.records import CallKind, CallRecord

pytestmark = pytest.mark.anyio


def edges(handle: agentrt.ProgramHandle) -> set[tuple[str, str]]:
    names = {n: handle.graph.nodes[n]["record"].name for n in handle.graph}
    return {(names[a], names[b]) for a, b in handle.graph.edges}


@agentrt.tool
async def look(x: int) -> int:
    return x


@agentrt.program
async def sequential() -> str:
    a = await agentrt.llm("a", max_tokens=2, name="a")
    await look(1)
    b = await agentrt.llm(f"{a.text} b", max_tokens=2, name="b")
    return b.text


@agentrt.program
async def fan_out_in(n: int) -> str:
    await agentrt.llm("plan", max_tokens=2, name="plan")
    parts = await agentrt.gather(*(agentrt.llm(f"part {i}", max_tokens=2, name=f"m{i}") for i in range(n)))
    out = await agentrt.llm(" ".join(p.text for p in parts), max_tokens=2, name="reduce")
    return out.text


@agentrt.program(name="child")
async def child(tag: str) -> str:
    return (await agentrt.llm(tag, max_tokens=1, name=f"child-{tag}")).text


@agentrt.program
async def nested() -> list[str]:
    await agentrt.llm("start", max_tokens=1, name="start")
    out = await agentrt.gather(child("x"), child("y"))
    await agentrt.llm("end", max_tokens=1, name="end")
    return out


async def run_one(prog: agentrt.Program, *args: object, engine: RecordingEngine | None = None) -> agentrt.ProgramHandle:
    async with agentrt.Runtime(engine=engine or RecordingEngine()) as rt:
        handle = rt.submit(prog, *args)
        await handle
    return handle


async def test_sequential_program_is_a_chain(anyio_backend: object) -> None:
    h = await run_one(sequential)
    assert edges(h) == {("a", "look"), ("look", "b")}


async def test_gather_gives_fan_out_and_fan_in(anyio_backend: object) -> None:
    h = await run_one(fan_out_in, 3)
    assert edges(h) == {("plan", "m0"), ("plan", "m1"), ("plan", "m2"),
                        ("m0", "reduce"), ("m1", "reduce"), ("m2", "reduce")}


async def test_nested_programs_are_nodes_with_their_own_dags(anyio_backend: object) -> None:
    engine = RecordingEngine()
    async with agentrt.Runtime(engine=engine) as rt:
        h = rt.submit(nested)
        assert await h == ["lorem", "lorem"]
    assert edges(h) == {("start", "child"), ("child", "end")}
    parents = {r.name: r.parent_ids for r in h.record.calls.values()}
    child_ids = [cid for cid, r in h.record.calls.items() if r.name == "child"]
    assert len(child_ids) == 2
    assert parents["end"] == tuple(sorted(child_ids))
    subs = [r for r in rt.records if r.parent_id == h.program_id]
    assert sorted(r.name for r in subs) == ["child", "child"]
    assert all(r.num_calls == 1 and r.status is agentrt.ProgramStatus.OK for r in subs)


@pytest.mark.virtual_time
async def test_critical_path_follows_the_slowest_branch(anyio_backend: object) -> None:
    latency = {"plan": 1.0, "m0": 2.0, "m1": 5.0, "m2": 3.0, "reduce": 1.0}

    def by_prompt(req: agentrt.GenerationRequest) -> float:
        text = str(req.prompt)
        return latency["plan"] if text == "plan" else latency[f"m{text[-1]}"] if text.startswith("part") else latency["reduce"]

    h = await run_one(fan_out_in, 3, engine=RecordingEngine(latency=by_prompt))
    path, total = h.critical_path()
    assert [h.graph.nodes[n]["record"].name for n in path] == ["plan", "m1", "reduce"]
    assert total == pytest.approx(7.0)
    assert h.record.critical_path_service == pytest.approx(7.0)
    assert h.record.attained_service == pytest.approx(12.0)
    reduce = next(r for r in h.record.calls.values() if r.name == "reduce")
    assert reduce.priority == pytest.approx(6.0)  # ATLAS: max over parents of p(k) + t(k)
    assert h.record.jct == pytest.approx(7.0)
    path_t, total_t = h.critical_path(dag.latency_weight)
    assert total_t == pytest.approx(7.0)


def _random_dag(rng: random.Random, num_calls: int) -> dict[str, CallRecord]:
    """Calls issued one by one, each with parents among the earlier ones (as programs issue them)."""
    calls: dict[str, CallRecord] = {}
    for i in range(num_calls):
        parents = tuple(f"c{j}" for j in sorted(rng.sample(range(i), min(i, rng.randrange(4)))))
        kind = rng.choice(list(CallKind))
        rec = CallRecord(call_id=f"c{i}", program_id="p", kind=kind, name="x", parent_ids=parents,
                         arrival=rng.random(), priority=0.0)
        rec.service_time = rng.choice([0.0, rng.random(), rng.randrange(3) * 0.1])  # ties too
        rec.finish = rec.arrival + rng.random()
        calls[rec.call_id] = rec
    return calls


@pytest.mark.parametrize("seed", range(30))
def test_critical_path_weight_is_the_critical_paths_weight(seed: int) -> None:
    calls = _random_dag(random.Random(seed), random.Random(seed).randrange(0, 40))
    graph = dag.graph_of(calls)
    for weight in (dag.service_weight, dag.latency_weight):
        assert dag.critical_path_weight(calls, weight) == dag.critical_path(graph, weight)[1]  # the same float


def test_critical_path_weight_falls_back_when_a_parent_was_added_later() -> None:
    calls = _random_dag(random.Random(1), 5)
    late = CallRecord(call_id="late", program_id="q", kind=CallKind.LLM, name="x", parent_ids=(), arrival=0.0,
                      priority=0.0)
    late.service_time = 10.0
    calls["c0"].parent_ids = ("late",)  # a call that appears after its child in issue order
    calls["late"] = late
    assert dag.critical_path_weight(calls) == dag.critical_path(dag.graph_of(calls))[1] >= 10.0
