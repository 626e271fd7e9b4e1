"""Fast-forwarded decode spans give the results of the step-by-step engine, bitwise."""

from __future__ import annotations

import dataclasses
from typing import Any

import anyio
import pytest
import trio
from trio.testing import MockClock

from agentrt.engine_adapters.base import GenerationRequest, SchedHints
from agentrt.engine_adapters.sim import SimEngine, SimStats
from agentrt.exceptions import LLMCallError
from agentrt.programs.tokens import Tokens

ARRIVALS = (0.0, 0.137, 0.2, 0.45, 0.61, 1.05, 1.3, 1.31, 1.9, 2.9)  # s; mid-span for those running
GAPS = (0.05, 0.8, 0.333, 1.7)  # tool durations, cycled per program and turn; the hint says 0.3 s


async def _program(engine: SimEngine, i: int, out: list[tuple[Any, ...]]) -> None:
    """Four turns with tools between them; program 3 aborts its third call mid-decode."""
    pid = f"p{i}"
    await anyio.sleep(ARRIVALS[i])
    prompt, gaps = Tokens.synthetic(700 + 230 * i, key=pid), (0.4, 1.2)
    for turn in range(4):
        call_id = f"{pid}/{turn}"
        request = GenerationRequest(call_id=call_id, program_id=pid, prompt=prompt, max_tokens=90 + 37 * ((i + turn) % 4),
                                    arrival=0.0, ignore_eos=True, hints=SchedHints(program_arrival=0.0, gap_samples=gaps))
        async with anyio.create_task_group() as tg:
            if i == 3 and turn == 2:
                tg.start_soon(_abort_after, engine, call_id, 0.9)
            try:
                r = await engine.generate(request)
            except LLMCallError:
                r = None
            tg.cancel_scope.cancel()
        if r is None:
            out.append((call_id, "aborted", anyio.current_time()))
            continue
        out.append((call_id, r.finish, r.first_scheduled, r.queue_wait, r.service_time, r.num_cached_tokens,
                    r.num_prefill_tokens, r.preemptions, r.recomputed_tokens, r.pin_ttl))
        gap = GAPS[(i + turn) % len(GAPS)]
        await engine.hint_tool(pid, "bash", (0.3,))  # pins expire during the longer tools
        await anyio.sleep(gap)
        prompt = prompt + r.output + Tokens.synthetic(150, key=call_id)
    await engine.release_program(pid)


async def _abort_after(engine: SimEngine, call_id: str, delay: float) -> None:
    await anyio.sleep(delay)
    await engine.abort(call_id)


def _run(policy: str, **options: Any) -> tuple[list[tuple[Any, ...]], SimStats]:
    engine = SimEngine(num_gpu_blocks=420, max_num_batched_tokens=1024, record_iterations=100_000, **options)
    out: list[tuple[Any, ...]] = []

    async def main() -> None:
        async with anyio.create_task_group() as engine_group:
            await engine.start(policy, engine_group)
            async with anyio.create_task_group() as tg:
                for i in range(len(ARRIVALS)):
                    tg.start_soon(_program, engine, i, out)
            await engine.stop()

    trio.run(main, clock=MockClock(autojump_threshold=0))
    return sorted(out), engine.statistics()


def _totals(stats: SimStats) -> dict[str, Any]:
    return {k: v for k, v in dataclasses.asdict(stats).items() if k != "iterations"}


@pytest.mark.parametrize(("policy", "options"), [
    ("fcfs", {}), ("mlfq", {}), ("continuum", {}), ("agentrt", {}), ("fcfs", {"preemption_mode": "swap"}),
])
def test_fast_forward_gives_the_step_by_step_results(policy: str, options: dict[str, Any]) -> None:
    stepped, stepped_stats = _run(policy, fast_forward=False, **options)
    fast, fast_stats = _run(policy, **options)
    assert fast == stepped  # finish times, waits and service times bitwise equal
    assert _totals(fast_stats) == _totals(stepped_stats)
    assert stepped_stats.num_evicted_blocks > 0 and stepped_stats.num_aborted == 1
    if policy != "agentrt":  # its residency gating keeps the working set in memory
        assert stepped_stats.num_preemptions > 0
    records = fast_stats.iterations
    assert sum(r.num_iterations for r in records) == fast_stats.num_iterations
    assert len(records) < fast_stats.num_iterations / 5  # most iterations ran as spans
    assert all(r.num_iterations == 1 for r in stepped_stats.iterations)


def test_a_span_record_sums_its_iterations() -> None:
    engine = SimEngine()
    out: list[float] = []

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            await engine.start("fcfs", tg)
            request = GenerationRequest(call_id="c", program_id="p", prompt=Tokens.synthetic(100, key="c"),
                                        max_tokens=50, arrival=0.0, ignore_eos=True)
            out.append((await engine.generate(request)).finish)
            await engine.stop()

    trio.run(main, clock=MockClock(autojump_threshold=0))
    stats = engine.statistics()
    prefill, decode, last = stats.iterations  # the last decode iteration finishes the call: not in the span
    assert (prefill.num_prefill_tokens, decode.num_iterations, decode.num_decode_tokens) == (100, 48, 48)
    assert last.num_iterations == 1 and stats.num_iterations == 50
    assert decode.start == prefill.start + prefill.duration
    assert decode.start + decode.duration + last.duration == pytest.approx(out[0], rel=1e-12)
