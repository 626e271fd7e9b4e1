"""Simulated replicas on one virtual clock behind a router: exactness, routing, replica failure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

import agentrt
from agentrt.engine_adapters.replicas import ReplicatedEngine, ReplicaStats
from agentrt.engine_adapters.sim import SimEngine
from agentrt.engine_adapters.sim.cost_model import CostModel
from agentrt.engine_adapters.sim.profiles import get_profile
from agentrt.engine_adapters.sim.replicas import pooled_profile, sim_replicas
from agentrt.exceptions import ConfigError, LLMCallError, ReplicaDiedError
from agentrt.programs.tokens import Tokens
from agentrt.replay import load_trace, make_scaling, poisson_arrivals, replay
from agentrt.replay.driver import ReplayResult
from agentrt.replay.mix import load_mix, parse_mix
from agentrt.runtime.scheduling.routing import RouteReason

SWE = "swebench-lite-deepseek-v3"


def replay_on(engine_factory: Any, limit: int, rate: float, policy: str = "agentrt") -> ReplayResult:
    programs = load_trace(SWE, limit=limit)

    async def main() -> ReplayResult:
        return await replay(programs, engine_factory(), policy, poisson_arrivals(len(programs), rate, 0),
                            make_scaling(programs))

    return agentrt.run(main)


def hit_rate(result: ReplayResult) -> float:
    return result.summary.prefix_hit_tokens / sum(m.prompt_tokens for m in result.metrics)


def test_one_replica_in_lockstep_is_bit_identical_to_a_plain_engine() -> None:
    plain = replay_on(SimEngine, 6, 0.05)
    one = replay_on(lambda: sim_replicas(1, "agentrt"), 6, 0.05)
    assert [m.jct for m in one.metrics] == [m.jct for m in plain.metrics]
    assert one.summary.prefix_hit_tokens == plain.summary.prefix_hit_tokens


def test_lookahead_is_bit_identical_to_one_iteration_per_step() -> None:
    """Replicas run ahead only as far as no other replica can finish a call (and so send them
    one); the result must equal stepping every replica one iteration at a time."""
    fast = replay_on(lambda: sim_replicas(2, "round-robin"), 8, 0.1)
    slow = replay_on(lambda: sim_replicas(2, "round-robin", lookahead=False), 8, 0.1)
    assert [m.jct for m in fast.metrics] == [m.jct for m in slow.metrics]
    assert fast.engine_stats.totals()["num_iterations"] == slow.engine_stats.totals()["num_iterations"]


def test_calls_sent_across_replicas_start_within_one_iteration() -> None:
    """A call issued the instant another replica finishes a call must not wait for a replica that
    simulated ahead: every call is admitted at the first iteration boundary after it arrives."""
    engine = sim_replicas(2, "round-robin", num_gpu_blocks=4096)

    @agentrt.program
    async def chatty(n: int, out: int) -> None:
        context = Tokens.synthetic(512, key=f"chatty{n}{out}")
        for i in range(n):
            done = await agentrt.llm(context + Tokens.synthetic(64, key=f"{out}/{i}"), max_tokens=out, ignore_eos=True)
            context = done.context

    async def main() -> list[agentrt.ProgramRecord]:
        async with agentrt.Runtime(engine=engine, policy="fcfs") as rt:
            await rt.wait([rt.submit(chatty, 6, 3), rt.submit(chatty, 3, 400), rt.submit(chatty, 5, 7)])
            return list(rt.records)

    records = agentrt.run(main)
    stats = engine.statistics()
    longest = max(i.duration / i.num_iterations for s in stats.replicas for i in s.iterations)
    waits = [c.queue_wait for r in records for c in r.llm_calls()]
    assert len(waits) == 14 and all(r.status is agentrt.ProgramStatus.OK for r in records)
    assert max(waits) <= longest
    assert stats.calls_per_replica == (7, 7)


def test_agentrt_routing_keeps_programs_with_their_kv() -> None:
    """With KV for about half the programs' contexts per replica, round-robin makes each replica
    hold every program's context and evicts them; agentrt's placement keeps each on one."""
    rr = replay_on(lambda: sim_replicas(2, "round-robin", num_gpu_blocks=8000), 8, 0.1)
    ours = replay_on(lambda: sim_replicas(2, "agentrt", num_gpu_blocks=8000), 8, 0.1)
    stats: ReplicaStats = ours.engine_stats
    assert stats.routes[RouteReason.NEW_PROGRAM.value] == 8
    assert hit_rate(ours) >= 0.95 and hit_rate(ours) > hit_rate(rr)
    prefilled = [r.engine_stats.totals()["num_prefill_tokens"] for r in (ours, rr)]
    assert prefilled[0] * 4 < prefilled[1]  # round-robin prefills a moved program's context again
    assert stats.moves == stats.routes.get(RouteReason.ESCAPED.value, 0)
    assert ours.summary.num_failed == rr.summary.num_failed == 0


def test_a_dead_replica_fails_its_calls_and_its_programs_move() -> None:
    engine = sim_replicas(2, "agentrt")
    errors: list[BaseException] = []
    started = anyio.Event()

    @agentrt.program
    async def turns(name: str, n: int) -> int:
        context = Tokens.synthetic(256, key=name)
        done_turns = 0
        for i in range(n):
            started.set()
            try:
                done = await agentrt.llm(context + Tokens.synthetic(32, key=f"{name}{i}"), max_tokens=200,
                                         ignore_eos=True)
            except LLMCallError as exc:
                errors.append(exc)
                continue
            context = done.context
            done_turns += 1
        return done_turns

    async def kill_replica_1() -> None:
        await started.wait()
        await anyio.sleep(0.5)  # virtual time: mid-decode of the first turns
        await engine.engines[1].stop()

    async def main() -> list[int]:
        async with agentrt.Runtime(engine=engine, policy="agentrt") as rt:
            handles = [rt.submit(turns, f"p{i}", 4) for i in range(4)]
            async with anyio.create_task_group() as tg:
                tg.start_soon(kill_replica_1)
                return await rt.wait(handles)

    turns_done = agentrt.run(main)
    stats = engine.statistics()
    assert stats.dead == (1,)
    assert stats.calls_per_replica[1] == 2  # two of the four programs started there (most free KV)
    assert len(errors) == 2 and all(isinstance(e.__cause__, ReplicaDiedError) for e in errors)
    assert "engine replica 1 died" in str(errors[0].__cause__)
    assert sorted(turns_done) == [3, 3, 4, 4]  # the moved programs lost one turn, then ran on replica 0
    assert stats.calls_per_replica[0] == 2 * 4 + 2 * 3


def test_replay_and_bench_take_replicas_and_a_router(tmp_path: Path) -> None:
    from agentrt.cli import main as cli

    out = tmp_path / "r.json"
    assert cli(["replay", SWE, "--limit", "3", "--rate", "0.1", "--replicas", "2", "--router", "autellix",
                "--output", str(out)]) == 0
    import json

    data = json.loads(out.read_text())
    assert data["config"]["replicas"] == 2 and data["config"]["router"] == "autellix"
    engine = data["runs"][0]["engine"] if "runs" in data else data["engine"]
    assert engine["router"] == "autellix" and sum(engine["calls_per_replica"]) == engine["num_calls"]
    assert cli(["replay", SWE, "--limit", "3", "--rate", "0.1", "--replicas", "2", "--router", "clairvoyant",
                "--output", str(out)]) == 0  # the bound: trace replay knows each program's remaining work
    data = json.loads(out.read_text())
    engine = data["runs"][0]["engine"] if "runs" in data else data["engine"]
    assert engine["router"] == "clairvoyant" and engine["routes"]["new-program"] == 3


def test_live_programs_are_not_offered_the_clairvoyant_bound(capsys: pytest.CaptureFixture[str]) -> None:
    from agentrt.cli import main as cli

    for argv in (["submit", "examples/quickstart.py:calculator"], ["serve"]):
        with pytest.raises(SystemExit) as exit_:
            cli([*argv, "--replicas", "2", "--router", "clairvoyant"])
        assert exit_.value.code == 2 and "invalid choice: 'clairvoyant'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["llama-3.1-8b-h100", "llama-3.1-70b-4xh100"])
def test_a_pooled_profile_is_n_replicas_with_their_load_balanced(name: str) -> None:
    """The routers' bound (benchmarks/replicas.py): a decode iteration over 4x one replica's batch
    and context takes exactly one replica's iteration time; KV, token budget and batch are 4x."""
    one, pooled = get_profile(name), pooled_profile(4, name)
    for batch, context in ((1, 2000), (8, 4000), (30, 20_000)):
        tokens = batch * context
        assert CostModel(pooled).iteration_time(0, 4 * batch, 4 * tokens, 4 * tokens) == pytest.approx(
            CostModel(one).iteration_time(0, batch, tokens, tokens), rel=1e-12)
    assert abs(pooled.num_kv_blocks() - 4 * one.num_kv_blocks()) < 4
    assert (pooled.max_num_batched_tokens, pooled.max_num_seqs) == (4 * one.max_num_batched_tokens, 4 * one.max_num_seqs)
    assert pooled_profile(1, name).num_kv_blocks() == one.num_kv_blocks()
    with pytest.raises(ConfigError, match="num_replicas >= 1, got 0"):
        pooled_profile(0)


def test_replicated_engine_needs_an_engine() -> None:
    with pytest.raises(agentrt.ConfigError, match="at least one engine"):
        ReplicatedEngine([])
    with pytest.raises(agentrt.ConfigError, match="--replicas must be >= 1"):
        sim_replicas(0)


def test_a_program_that_moves_is_released_where_it_was() -> None:
    """Each replica gates admission on the programs it holds; one that moved on must not keep
    its place there (two replicas each waiting for the other's programs would never admit)."""
    from agentrt.engine_adapters.testing import RecordingEngine

    engines = [RecordingEngine(latency=0.1), RecordingEngine(latency=0.1)]
    engine = ReplicatedEngine(engines, "round-robin", kv_capacity_tokens=[10_000, 10_000])

    @agentrt.program
    async def three_calls() -> None:
        for i in range(3):
            await agentrt.llm(f"turn {i}", max_tokens=4)

    async def main() -> None:
        async with agentrt.Runtime(engine=engine, policy="agentrt") as rt:
            await rt.wait([rt.submit(three_calls)])

    agentrt.run(main)
    assert [len(e.requests) for e in engines] == [2, 1]  # replicas 0, 1, 0
    assert engines[1].released == ["p1"]  # left for replica 0 at the third call
    assert engines[0].released == ["p1", "p1"]  # left at the second call; the program's end
    assert engine.statistics().moves == 2


def test_submit_runs_programs_on_replicas(tmp_path: Path) -> None:
    from agentrt.cli import main as cli
    from agentrt.submit.results import read_results

    program = tmp_path / "prog.py"
    program.write_text("import agentrt\n\n\n@agentrt.program\nasync def twice(x: int) -> int:\n"
                       "    a = await agentrt.llm(f'{x}', max_tokens=3)\n"
                       "    b = await agentrt.llm(f'{x} {a.text}', max_tokens=3)\n"
                       "    return b.output_tokens + x\n")
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(f'{{"x": {i}}}\n' for i in range(4)))
    out = tmp_path / "out.jsonl"
    assert cli(["submit", f"{program}:twice", "--inputs", str(inputs), "--replicas", "3", "--router", "least-loaded",
                "--output", str(out), "--no-progress"]) == 0
    assert sorted(r.result for r in read_results(out)) == [3, 4, 5, 6]


def mixed_slice_on(router: str, blocks_per_replica: int = 6000) -> ReplayResult:
    """16 mixed programs (SWE-bench + BFCL), loaded, on 2 replicas behind `router`, or ("pooled")
    on one engine with the two replicas' resources. 6,000 blocks per replica hold part of the
    contexts; 12,000 hold them all (agentrt's mean JCT is the same as with 30,000)."""
    programs = load_mix(parse_mix("mixed"), programs=16, seed=0)

    async def main() -> ReplayResult:
        engine = (SimEngine(pooled_profile(2), num_gpu_blocks=2 * blocks_per_replica) if router == "pooled"
                  else sim_replicas(2, router, num_gpu_blocks=blocks_per_replica))
        return await replay(programs, engine, "agentrt", poisson_arrivals(len(programs), 0.5, 0), make_scaling(programs))

    return agentrt.run(main)


def test_agentrt_routing_beats_round_robin_on_the_mixed_workload() -> None:
    """Round-robin re-prefills moved contexts; agentrt keeps programs with their KV (README "Replicas")."""
    rr, ours = mixed_slice_on("round-robin"), mixed_slice_on("agentrt")
    assert ours.summary.num_failed == rr.summary.num_failed == 0
    assert hit_rate(ours) >= 0.95 > hit_rate(rr)
    assert ours.summary.mean_jct <= 0.75 * rr.summary.mean_jct


def test_no_router_beats_the_pooled_bound_which_stays_above_085x_of_the_best_baseline() -> None:
    """The README's finding on the router target: one engine with the replicas' summed resources
    (perfect balance, free moves) is below every router, and still above 0.85x of the best of
    least-loaded and Autellix, so no router reaches 0.85x of it by placement (README "Replicas").
    Measured: pooled 120.5 s, Autellix 121.6, clairvoyant 123.3, agentrt 124.0, least-loaded 127.7.
    The pooled engine is a bound only while KV does not bind: with 6,000 blocks per replica it is
    slower than the Autellix and agentrt routers (142.1 s vs 131.5 / 133.0)."""
    jct = {r: mixed_slice_on(r, blocks_per_replica=12_000).summary.mean_jct
           for r in ("least-loaded", "autellix", "agentrt", "clairvoyant", "pooled")}
    assert jct["pooled"] <= min(jct.values())
    assert jct["pooled"] > 0.85 * min(jct["least-loaded"], jct["autellix"])
