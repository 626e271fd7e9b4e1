"""Which free block is reused first: vLLM 0.32's `BlockPool.free_blocks` puts a freed block that
can never hit (no block hash: a call's partial last block) at the head of the free queue, and the
cached ones at its tail. The same four calls on the simulator (virtual time) and on vLLM's own
scheduler (driven step by step, as tests/engine_adapters/test_vllm_observer.py does): B's three
cached blocks outlive a later call that needs five fresh blocks, because A's partial block, freed
after them, is reused before them. With every freed block at the tail (the simulator before
session 7) that call evicts one of B's blocks and B's next turn hits 64 tokens, not 96."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from trio.testing import MockClock

from agentrt.engine_adapters.base import GenerationResult
from agentrt.engine_adapters.sim import SimEngine
from agentrt.programs.tokens import Tokens
from tests.engine_adapters.test_sim_engine import request, serve

BLOCK_SIZE = 32
NUM_USABLE_BLOCKS = 9
# (call, prompt tokens, program): one output token each. B: 3 full blocks; A: 1 full + a partial one
# (8 tokens); C: 5 fresh blocks (the 4 never used and one more); B's next turn: its 97-token context
# + 10 tokens, of which at most 3 blocks can hit.
B, A, C, NEXT_NEW = 96, 40, 150, 10
HIT = 96  # vLLM's hit for B's next turn (the test below drives vLLM's scheduler to show it)


def test_a_freed_partial_block_is_reused_before_older_cached_blocks_on_the_simulator() -> None:
    engine = SimEngine(num_gpu_blocks=NUM_USABLE_BLOCKS, block_size=BLOCK_SIZE)
    results: list[GenerationResult] = []

    async def body() -> None:
        b = await engine.generate(request("b", Tokens.synthetic(B, key="b"), 1, program_id="b"))
        await engine.generate(request("a", Tokens.synthetic(A, key="a"), 1, program_id="a"))
        await engine.generate(request("c", Tokens.synthetic(C, key="c"), 1, program_id="c"))
        context = Tokens.synthetic(B, key="b") + b.output
        results.append(await engine.generate(request("b2", context + Tokens.synthetic(NEXT_NEW, key="n"), 1,
                                                     program_id="b")))

    trio.run(serve, engine, body, clock=MockClock(autojump_threshold=0))
    assert results[0].num_cached_tokens == HIT


@pytest.mark.vllm
@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch", "ignore::FutureWarning:vllm",
                            "ignore::DeprecationWarning:vllm", "ignore::FutureWarning:torch")
def test_vllms_scheduler_reuses_the_partial_block_first(tiny_model: Path) -> None:
    from vllm.v1.core.sched.scheduler import Scheduler

    from tests.engine_adapters.test_vllm_observer import SAMPLED, make_config, make_scheduler, prompt, steps

    scheduler = make_scheduler(Scheduler, make_config(tiny_model, "fcfs"), NUM_USABLE_BLOCKS + 1)
    b = prompt(0, B)
    script = {0: [("b", b, 1)], 2: [("a", prompt(500, A), 1)], 4: [("c", prompt(1000, C), 1)],
              6: [("b2", b + [SAMPLED] + prompt(2000, NEXT_NEW), 1)]}
    hits: dict[str, Any] = {}
    for out, _ in steps(scheduler, script):
        hits.update({r.req_id: r.num_computed_tokens for r in out.scheduled_new_reqs})
    assert hits == {"b": 0, "a": 0, "c": 0, "b2": HIT}
