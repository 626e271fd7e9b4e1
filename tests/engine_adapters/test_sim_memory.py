"""Memory pressure in the simulated engine: eviction, pins and their TTL, preemption by the
policy's choice. Small caches (block size 16) make every block count."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from trio.testing import MockClock

from agentrt.engine_adapters.base import GenerationRequest, GenerationResult, SchedHints
from agentrt.engine_adapters.sim import SimEngine
from agentrt.runtime.scheduling.pinning import PinQuery
from agentrt.runtime.scheduling.policies import Policy, PolicyConfig
from agentrt.runtime.scheduling.policies.base import CallState, ProgramState

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    return ("trio", {"clock": MockClock(autojump_threshold=0)})


class FixedTTL(Policy):
    """FCFS that pins every finished call's KV for `ttl` seconds."""

    name = "fixed-ttl"
    pins_kv = True

    def __init__(self, ttl: float) -> None:
        super().__init__(PolicyConfig(name="fcfs"))
        self.ttl = ttl
        self.queries: list[PinQuery] = []

    def pin_ttl(self, query: PinQuery) -> float:
        self.queries.append(query)
        return self.ttl if not query.gap_samples else max(query.gap_samples)


class ByPriority(Policy):
    """Lower `SchedHints.priority` runs first; optionally preempts for a higher-priority call."""

    name = "by-priority"

    def __init__(self, preempt: bool = False) -> None:
        super().__init__(PolicyConfig(name="fcfs"))
        self.preempt = preempt

    def sort_key(self, call: CallState, program: ProgramState, pinned: bool) -> tuple:
        return (call.priority,)

    def can_preempt_for(self, candidate: CallState, victim: CallState) -> bool:
        return self.preempt and candidate.priority < victim.priority


def request(call_id: str, prompt_tokens: int, max_tokens: int, *, program_id: str | None = None,
            prompt: Any = None, priority: float = 0.0, gaps: tuple[float, ...] = ()) -> GenerationRequest:
    from agentrt.programs.tokens import Tokens

    return GenerationRequest(call_id=call_id, program_id=program_id or call_id,
                             prompt=prompt if prompt is not None else Tokens.synthetic(prompt_tokens, key=call_id),
                             max_tokens=max_tokens, arrival=0.0, ignore_eos=True,
                             hints=SchedHints(priority=priority, gap_samples=gaps))


async def serve(engine: SimEngine, policy: Any, body: Callable[[], Awaitable[None]]) -> None:
    async with anyio.create_task_group() as tg:
        await engine.start(policy, tg)
        await body()
        await engine.stop()


async def second_turn_after_pressure(policy: Any, **options: Any) -> tuple[GenerationResult, SimEngine]:
    """A's first turn (101 blocks), then B and D (95 blocks each) while A is in a tool call, then
    A's second turn. 200 blocks: D must evict the older of A's and B's cached blocks. `options`:
    the engine's (e.g. a host KV tier)."""
    from agentrt.programs.tokens import Tokens

    engine = SimEngine(num_gpu_blocks=200, **options)
    out: list[GenerationResult] = []

    async def body() -> None:
        prompt = Tokens.synthetic(1600, key="a")
        first = await engine.generate(request("a1", 0, 16, program_id="a", prompt=prompt))
        await engine.generate(request("b", 1500, 16))
        await engine.generate(request("d", 1500, 16))
        second = prompt + first.output + Tokens.synthetic(50, key="a2")
        out.append(await engine.generate(request("a2", 0, 8, program_id="a", prompt=second)))

    await serve(engine, policy, body)
    return out[0], engine


async def test_an_unpinned_program_is_evicted_and_re_prefills_its_context() -> None:
    second, engine = await second_turn_after_pressure("fcfs")
    stats = engine.statistics()
    # B took A's partial last block (freed to the head of the queue, as vLLM) and 94 unused ones; D
    # took B's partial block, the 5 unused ones left, then 89 of A's 100 cached blocks from the tail
    assert second.num_cached_tokens == 176
    assert second.num_prefill_tokens == 1666 - 176
    assert stats.num_evicted_blocks >= 89 and stats.num_reprefilled_tokens == 1600 - 176
    assert stats.num_pins == 0


async def test_a_pinned_program_keeps_its_context() -> None:
    policy = FixedTTL(100.0)
    second, engine = await second_turn_after_pressure(policy)
    stats = engine.statistics()
    assert second.num_cached_tokens == 1600  # D evicted B's blocks instead
    assert second.num_prefill_tokens == 66
    assert stats.num_pin_hits == 1 and stats.num_reprefilled_tokens == 0
    # 1,615 computed tokens: the pin takes the 100 full blocks, as the plugin's (vLLM's hashed blocks)
    assert policy.queries[0].num_blocks == 100 and policy.queries[0].benefit > 0


async def test_a_pin_expires_at_its_ttl() -> None:
    engine = SimEngine(num_gpu_blocks=200)
    seen: dict[str, Any] = {}

    async def body() -> None:
        result = await engine.generate(request("a", 1600, 16))
        seen["ttl"] = result.pin_ttl
        await anyio.sleep_until(result.finish + 4.999)
        seen["before"] = engine.statistics()
        await anyio.sleep_until(result.finish + 5.001)
        seen["after"] = engine.statistics()

    await serve(engine, FixedTTL(5.0), body)
    assert seen["ttl"] == 5.0
    assert seen["before"].num_pinned_blocks == 100 and seen["before"].num_pin_expiries == 0
    assert seen["after"].num_pinned_blocks == 0 and seen["after"].num_pin_expiries == 1


async def test_a_pin_under_pressure_is_released_before_anything_is_preempted() -> None:
    engine = SimEngine(num_gpu_blocks=200)
    out: list[GenerationResult] = []

    async def body() -> None:
        await engine.generate(request("a", 1600, 16))
        out.append(await engine.generate(request("big", 3000, 16)))  # needs 189 blocks

    await serve(engine, FixedTTL(100.0), body)
    stats = engine.statistics()
    assert stats.num_pin_releases == 1 and stats.num_preemptions == 0
    assert out[0].queue_wait == 0.0


async def test_hint_tool_re_decides_the_pin() -> None:
    engine = SimEngine(num_gpu_blocks=200)
    seen: dict[str, Any] = {}

    async def body() -> None:
        result = await engine.generate(request("a", 1600, 16))
        await engine.hint_tool("a", "bash", (2.0,))  # FixedTTL pins for the longest sample
        await anyio.sleep_until(result.finish + 1.999)
        seen["before"] = engine.statistics().num_pinned_blocks
        await anyio.sleep_until(result.finish + 2.001)
        seen["after"] = engine.statistics().num_pinned_blocks

    await serve(engine, FixedTTL(100.0), body)
    assert (seen["before"], seen["after"]) == (100, 0)


async def test_the_pin_is_priced_by_the_re_prefill_of_the_blocks_it_holds() -> None:
    """1,615 computed tokens: the pin holds 100 full blocks (1,600 tokens) and the partial block is
    freed, so what it saves is prefilling 1,600 tokens again, at the finish and at the tool hint
    (before session 8 the benefit priced all 1,615, a block the pin no longer held)."""
    engine = SimEngine(num_gpu_blocks=200)
    policy = FixedTTL(100.0)

    async def body() -> None:
        await engine.generate(request("a", 1600, 16))
        await engine.hint_tool("a", "bash", (2.0,))

    await serve(engine, policy, body)
    held, computed = engine.cost_model.prefill_time(1600), engine.cost_model.prefill_time(1615)
    assert held < computed
    assert [q.num_blocks for q in policy.queries] == [100, 100]
    assert [q.benefit for q in policy.queries] == [held, held]


async def _two_growing_calls(policy: Any, **options: Any) -> tuple[dict[str, GenerationResult], SimEngine]:
    """x (priority 5) and y (priority 1) arrive together and outgrow a 40-block cache."""
    engine = SimEngine(num_gpu_blocks=40, **options)
    out: dict[str, GenerationResult] = {}

    async def one(call_id: str, priority: float) -> None:
        out[call_id] = await engine.generate(request(call_id, 160, 400, priority=priority))

    async def body() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(one, "x", 5.0)
            tg.start_soon(one, "y", 1.0)

    await serve(engine, policy, body)
    return out, engine


async def test_when_memory_runs_out_the_victim_is_the_policy_choice() -> None:
    fcfs, _ = await _two_growing_calls("fcfs")
    assert (fcfs["x"].preemptions, fcfs["y"].preemptions) == (0, 1)  # the latest arrival, as vLLM
    by_priority, engine = await _two_growing_calls(ByPriority())
    assert (by_priority["x"].preemptions, by_priority["y"].preemptions) == (1, 0)
    x = by_priority["x"]
    assert x.recomputed_tokens > 0 and x.finish > by_priority["y"].finish
    assert engine.statistics().num_preemptions == 1


async def test_swap_mode_copies_kv_instead_of_recomputing() -> None:
    out, engine = await _two_growing_calls(ByPriority(), preemption_mode="swap")
    stats = engine.statistics()
    assert stats.num_swap_outs == 1 and stats.num_swapped_tokens > 0
    assert out["x"].recomputed_tokens == 0 and stats.num_recomputed_tokens == 0


async def _late_high_priority(preempt: bool) -> dict[str, GenerationResult]:
    engine = SimEngine(num_gpu_blocks=40)
    out: dict[str, GenerationResult] = {}

    async def low() -> None:
        out["low"] = await engine.generate(request("low", 320, 200, priority=5.0))

    async def body() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(low)
            await anyio.sleep(0.2)
            out["high"] = await engine.generate(request("high", 320, 10, priority=1.0))

    await serve(engine, ByPriority(preempt=preempt), body)
    return out


async def test_a_waiting_call_preempts_only_when_the_policy_allows() -> None:
    allowed = await _late_high_priority(preempt=True)
    assert allowed["low"].preemptions == 1 and allowed["high"].queue_wait < 0.05
    assert allowed["high"].finish < allowed["low"].finish
    refused = await _late_high_priority(preempt=False)
    assert refused["low"].preemptions == 0
    assert refused["high"].first_scheduled >= refused["low"].finish


async def test_continuum_pins_with_gap_samples() -> None:
    engine = SimEngine(num_gpu_blocks=2000)
    out: list[GenerationResult] = []

    async def body() -> None:
        out.append(await engine.generate(request("a", 1600, 16, gaps=(0.5, 1.0, 1.5))))

    await serve(engine, "continuum", body)
    assert 0 < out[0].pin_ttl <= 1.5
    assert engine.statistics().num_pins == 1


async def test_a_pin_holds_the_full_blocks_and_frees_the_partial_one_as_the_plugin() -> None:
    """The plugin pins the blocks vLLM has hashed (the full computed ones) and vLLM frees the
    partial last block at the call's end. A: 1,615 computed tokens, 100 full blocks pinned; the
    101st is free, so B (up to 100 blocks) runs beside the pin in 200 blocks without releasing it,
    and A's next turn is a pin hit (only B's own pin is released, to admit it). Pinning all 101
    releases A's pin too (2 releases, no pin hit)."""
    from agentrt.programs.tokens import Tokens

    engine = SimEngine(num_gpu_blocks=200)
    policy = FixedTTL(100.0)
    out: list[GenerationResult] = []

    async def body() -> None:
        prompt = Tokens.synthetic(1600, key="a")
        first = await engine.generate(request("a1", 0, 16, program_id="a", prompt=prompt))
        await engine.generate(request("b", 1584, 16))
        second = prompt + first.output + Tokens.synthetic(50, key="a2")
        out.append(await engine.generate(request("a2", 0, 8, program_id="a", prompt=second)))

    await serve(engine, policy, body)
    stats = engine.statistics()
    assert policy.queries[0].num_blocks == 100
    assert stats.num_pin_releases == 1 and stats.num_pin_hits == 1 and stats.num_preemptions == 0
    assert out[0].num_cached_tokens == 1600
