"""On a virtual clock a lone engine jumps the clock to the end of its run-ahead instead of sleeping
(`clock.sleep_until`); beside another engine it sleeps. Both must give the same simulation."""

from __future__ import annotations

from typing import Any

import anyio
import trio
from trio.testing import MockClock

from agentrt.engine_adapters.sim import SimEngine
from agentrt.programs.tokens import Tokens
from tests.engine_adapters.test_sim_engine import request


async def _agents(engine: SimEngine, out: dict[str, Any]) -> None:
    """Six agents of three turns with tool gaps, pinning policy: finishes, pins, expiries."""
    async def agent(i: int) -> None:
        prompt = Tokens.synthetic(800 + 500 * i, key=f"a{i}")
        await anyio.sleep(0.05 * i)
        for turn in range(3):
            result = await engine.generate(request(f"a{i}.{turn}", prompt, 30 + 7 * i, program_id=f"a{i}"))
            out[result.first_scheduled, f"a{i}.{turn}"] = (result.finish, result.queue_wait, result.num_cached_tokens)
            await anyio.sleep(0.3 + 0.2 * turn)
            prompt = prompt + result.output + Tokens.synthetic(100, key=f"a{i}.{turn}")
        await engine.release_program(f"a{i}")

    async with anyio.create_task_group() as tg:
        for i in range(6):
            tg.start_soon(agent, i)


async def _run(num_engines: int) -> tuple[dict[str, Any], Any]:
    engines = [SimEngine(num_gpu_blocks=600) for _ in range(num_engines)]
    outs: list[dict[str, Any]] = [{} for _ in engines]
    async with anyio.create_task_group() as tg:
        for engine in engines:
            await engine.start("agentrt", tg)
        async with anyio.create_task_group() as agents:
            for engine, out in zip(engines, outs):
                agents.start_soon(_agents, engine, out)
        for engine in engines:
            await engine.stop()
    return outs[0], engines[0].statistics()


def test_a_lone_engine_jumping_the_clock_simulates_what_two_sleeping_engines_do() -> None:
    alone, alone_stats = trio.run(_run, 1, clock=MockClock(autojump_threshold=0))
    beside, beside_stats = trio.run(_run, 2, clock=MockClock(autojump_threshold=0))
    assert alone == beside and len(alone) == 18
    assert alone_stats == beside_stats
