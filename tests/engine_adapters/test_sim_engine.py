"""The simulated engine under virtual time: latency, prefix caching, errors, determinism."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
import trio
from trio.testing import MockClock

from agentrt.engine_adapters.base import GenerationRequest, GenerationResult, SchedHints
from agentrt.engine_adapters.sim import SimEngine, SimStats
from agentrt.exceptions import EngineError, LLMCallError, PromptTooLongError
from agentrt.programs.tokens import Tokens

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    return ("trio", {"clock": MockClock(autojump_threshold=0)})


def request(call_id: str, prompt: Tokens, max_tokens: int, program_id: str = "p", **kw: Any) -> GenerationRequest:
    return GenerationRequest(call_id=call_id, program_id=program_id, prompt=prompt, max_tokens=max_tokens,
                             arrival=0.0, ignore_eos=kw.pop("ignore_eos", True), **kw)


async def serve(engine: SimEngine, body: Callable[[], Awaitable[None]], policy: Any = "fcfs") -> None:
    async with anyio.create_task_group() as tg:
        await engine.start(policy, tg)
        await body()
        await engine.stop()


async def test_a_lone_call_takes_the_cost_model_prefill_plus_decode_time() -> None:
    engine = SimEngine()
    results: list[GenerationResult] = []

    async def body() -> None:
        await anyio.sleep(1.0)
        results.append(await engine.generate(request("c", Tokens.synthetic(20_000, key="x"), 50)))

    await serve(engine, body)
    r = results[0]
    expected = engine.cost_model.prefill_time(20_000) + engine.cost_model.decode_time(20_000, 49)
    assert r.first_scheduled == 1.0 and r.queue_wait == 0.0
    assert r.finish - 1.0 == pytest.approx(expected, rel=1e-9)
    assert r.service_time == pytest.approx(expected, rel=1e-9)
    assert (r.num_prompt_tokens, r.num_output_tokens, r.num_cached_tokens, r.num_prefill_tokens) == (20_000, 50, 0, 20_000)
    stats = engine.statistics()
    assert stats.num_iterations == 3 + 49  # three prefill chunks of <= 8192 tokens, then 49 decode steps
    assert [i.num_prefill_tokens for i in stats.iterations[:3]] == [8192, 8192, 3616]
    assert stats.busy_time == pytest.approx(expected, rel=1e-9)


async def test_an_iteration_pays_the_per_prefill_overhead_once_per_prefilling_call() -> None:
    """Two calls prefilled in one iteration cost the profile's per-request overhead twice; their
    decode steps, none (the same run without the overhead as the reference)."""
    async def iterations(engine: SimEngine) -> list[tuple[int, float]]:
        async def one(call_id: str) -> None:
            await engine.generate(request(call_id, Tokens.synthetic(300, key=call_id), 3, call_id))

        async def body() -> None:
            async with anyio.create_task_group() as tg:
                tg.start_soon(one, "a")
                tg.start_soon(one, "b")

        await serve(engine, body)
        return [(i.num_prefill_tokens, i.duration) for i in engine.statistics().iterations]

    base = SimEngine().profile
    priced = await iterations(SimEngine(dataclasses.replace(base, overhead_per_prefill_s=0.005)))
    flat = await iterations(SimEngine(base))
    assert [n for n, _ in priced] == [n for n, _ in flat] and priced[0][0] == 600
    assert priced[0][1] == pytest.approx(flat[0][1] + 2 * 0.005, rel=1e-12)
    assert priced[1:] == flat[1:]


async def test_the_next_turn_hits_the_prefix_cache_and_prefills_only_new_tokens() -> None:
    engine = SimEngine()
    results: list[GenerationResult] = []

    async def body() -> None:
        prompt = Tokens.synthetic(1000, key="turn1")
        first = await engine.generate(request("c1", prompt, 50))
        await anyio.sleep(2.0)  # a tool call
        second = prompt + first.output + Tokens.synthetic(100, key="turn2")
        results.extend([first, await engine.generate(request("c2", second, 10))])

    await serve(engine, body)
    first, second = results
    assert first.num_cached_tokens == 0
    assert second.num_cached_tokens == (1000 + 50 - 1) // 16 * 16 == 1040  # every full computed block
    assert second.num_prefill_tokens == 1150 - 1040
    stats = engine.statistics()
    assert stats.num_prefix_hit_tokens == 1040 and stats.num_reprefilled_tokens == 0


async def test_programs_share_a_system_prompt_prefix() -> None:
    engine = SimEngine()
    system = Tokens.synthetic(4096, key="system")
    results: list[GenerationResult] = []

    async def body() -> None:
        for name in ("a", "b"):
            prompt = system + Tokens.synthetic(300, key=name)
            results.append(await engine.generate(request(name, prompt, 5, program_id=name)))

    await serve(engine, body)
    assert results[0].num_cached_tokens == 0 and results[1].num_cached_tokens == 4096


async def test_concurrent_calls_share_iterations() -> None:
    engine = SimEngine()
    results: list[GenerationResult] = []

    async def one(i: int) -> None:
        results.append(await engine.generate(request(f"c{i}", Tokens.synthetic(500, key=str(i)), 20, program_id=str(i))))

    async def body() -> None:
        async with anyio.create_task_group() as tg:
            for i in range(4):
                tg.start_soon(one, i)

    await serve(engine, body)
    assert len({r.finish for r in results}) == 1  # admitted together, decoded together
    assert engine.statistics().max_batch_size == 4
    assert engine.statistics().num_iterations == 20


async def test_too_long_prompts_fail_typed_and_the_engine_keeps_serving() -> None:
    engine = SimEngine(num_gpu_blocks=100, max_model_len=4096)  # 1600 tokens of KV
    outcome: dict[str, Any] = {}

    async def body() -> None:
        with pytest.raises(PromptTooLongError, match="context length"):
            await engine.generate(request("long", Tokens.synthetic(4000, key="l"), 100))
        with pytest.raises(PromptTooLongError, match="whole KV cache"):
            await engine.generate(request("big", Tokens.synthetic(1590, key="b"), 20))
        outcome["ok"] = await engine.generate(request("ok", Tokens.synthetic(1000, key="o"), 10))

    await serve(engine, body)
    assert outcome["ok"].num_output_tokens == 10
    assert engine.statistics().num_rejected == 2


async def test_abort_frees_a_running_call_and_fails_its_generate() -> None:
    engine = SimEngine(num_gpu_blocks=200)
    errors: list[BaseException] = []

    async def victim() -> None:
        try:
            await engine.generate(request("long", Tokens.synthetic(1000, key="v"), 1000))
        except LLMCallError as exc:
            errors.append(exc)

    async def body() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(victim)
            await anyio.sleep(0.5)
            await engine.abort("long")
            await engine.abort("unknown")  # no-op
        assert engine.statistics().num_used_blocks == 0

    await serve(engine, body)
    assert len(errors) == 1 and "aborted" in str(errors[0])
    assert engine.statistics().num_aborted == 1


async def test_a_responder_supplies_the_text_and_its_length() -> None:
    engine = SimEngine(responder=lambda req: f"answer to {req.call_id}")
    results: list[GenerationResult] = []

    async def body() -> None:
        results.append(await engine.generate(request("q", Tokens.synthetic(10, key="q"), 50, ignore_eos=False)))
        results.append(await engine.generate(request("r", "a text prompt", 50)))

    await serve(engine, body)
    stop, forced = results
    assert stop.text == "answer to q" and stop.num_output_tokens == 3 and stop.finish_reason == "stop"
    assert len(stop.output) == 3
    assert forced.num_output_tokens == 50 and forced.finish_reason == "length"


async def test_generate_outside_start_and_stop_fails_with_the_fix() -> None:
    engine = SimEngine()
    with pytest.raises(EngineError, match="start"):
        await engine.generate(request("c", Tokens.synthetic(10, key="c"), 1))

    async def nothing() -> None:
        pass

    await serve(engine, nothing)
    with pytest.raises(EngineError, match="stopped"):
        await engine.generate(request("c", Tokens.synthetic(10, key="c"), 1))


async def _workload(engine: SimEngine) -> list[tuple[Any, ...]]:
    """Eight programs of four turns arriving together, with tools, on a small cache."""
    out: list[tuple[Any, ...]] = []

    async def program(i: int) -> None:
        prompt, gaps = Tokens.synthetic(800 + 100 * i, key=f"p{i}"), (0.5, 1.0, 2.0)
        for turn in range(4):
            hints = SchedHints(program_arrival=0.0, gap_samples=gaps)
            r = await engine.generate(request(f"p{i}/{turn}", prompt, 40 + 10 * turn, program_id=f"p{i}", hints=hints))
            out.append((f"p{i}/{turn}", r.finish, r.num_cached_tokens, r.preemptions, r.pin_ttl, r.queue_wait))
            await anyio.sleep((i % 3) * 0.5)
            prompt = prompt + r.output + Tokens.synthetic(200, key=f"p{i}/{turn}")
        await engine.release_program(f"p{i}")

    async def body() -> None:
        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(program, i)

    await serve(engine, body, policy="continuum")
    return sorted(out)


def _run_once() -> tuple[list[tuple[Any, ...]], SimStats]:
    engine = SimEngine(num_gpu_blocks=600, max_num_batched_tokens=1024)
    result: list[list[tuple[Any, ...]]] = []

    async def main() -> None:
        result.append(await _workload(engine))

    trio.run(main, clock=MockClock(autojump_threshold=0))
    return result[0], engine.statistics()


def test_identical_runs_give_identical_results() -> None:
    runs = [_run_once() for _ in range(3)]  # trio shuffles tasks woken together: order must not matter
    (calls, stats) = runs[0]
    assert stats.num_evicted_blocks > 0 and stats.num_pins > 0  # the workload exercises the cache
    for other_calls, other_stats in runs[1:]:
        assert other_calls == calls
        assert other_stats == stats


def test_filler_text_is_the_word_cycle_one_word_per_token() -> None:
    from agentrt.engine_adapters.base import _FILLER, filler_text
    assert filler_text(0) == ""
    words = filler_text(30).split()
    assert len(words) == 30 and words[:len(_FILLER)] == _FILLER and words[len(_FILLER):2 * len(_FILLER)] == _FILLER


async def test_submit_hands_generates_result_or_error_to_the_callback() -> None:
    """`submit` (the runtime's path: no task per call) ends each call as `generate` does: the same
    results for the same calls, a malformed call's error at once, an aborted call's error."""
    prompts = {f"c{i}": Tokens.synthetic(500 + 300 * i, key=f"s{i}") for i in range(4)}
    by_generate: dict[str, GenerationResult] = {}
    by_submit: dict[str, GenerationResult | BaseException] = {}

    def keep(call_id: str) -> Callable[[GenerationResult | BaseException], None]:
        return lambda outcome: by_submit.__setitem__(call_id, outcome)

    async def generate_all(engine: SimEngine) -> None:
        async def one(call_id: str) -> None:
            by_generate[call_id] = await engine.generate(request(call_id, prompts[call_id], 40, program_id=call_id))
        async with anyio.create_task_group() as tg:
            for call_id in prompts:
                tg.start_soon(one, call_id)

    async def submit_all(engine: SimEngine) -> None:
        for call_id in prompts:
            assert engine.submit(request(call_id, prompts[call_id], 40, program_id=call_id), keep(call_id))
        while len(by_submit) < len(prompts):
            await anyio.sleep(0.1)
        engine.submit(request("too-long", Tokens.synthetic(10, key="t"), 10**9), keep("too-long"))
        assert isinstance(by_submit["too-long"], PromptTooLongError)  # at once, before any iteration
        engine.submit(request("aborted", Tokens.synthetic(5000, key="a"), 400, program_id="a"), keep("aborted"))
        await anyio.sleep(0.01)
        await engine.abort("aborted")
        while len(by_submit) < len(prompts) + 2:
            await anyio.sleep(0.1)

    engine_a, engine_b = SimEngine(), SimEngine()
    async with anyio.create_task_group() as tg:  # side by side, from the same instant
        tg.start_soon(serve, engine_a, lambda: generate_all(engine_a))
        tg.start_soon(serve, engine_b, lambda: submit_all(engine_b))
    def plain(result: GenerationResult | BaseException) -> GenerationResult:
        assert isinstance(result, GenerationResult)
        return dataclasses.replace(result, output=tuple(result.output.pieces()))  # Tokens compare by identity

    assert {k: plain(by_submit[k]) for k in prompts} == {k: plain(r) for k, r in by_generate.items()}
    assert isinstance(by_submit["aborted"], LLMCallError) and "aborted" in str(by_submit["aborted"])
