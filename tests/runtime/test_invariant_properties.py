"""Scheduler and engine invariants under generated workloads (hypothesis): random traces, every
policy, small and large KV caches, random arrivals. Whatever happens:
- no program or call is lost: every program ends; the engine accepted or rejected every call
  issued, and finished or aborted every call it accepted;
- free KV returns to its baseline once every program has ended: no block referenced, none pinned;
- pins stay within their cap (the policy's `max_pinned_share` of the KV cache) at every iteration;
- the batcher's running count of the blocks waiting calls want equals the sum over them, at every
  iteration (it replaced that sum, which made 10,000 programs quadratic).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentrt.engine_adapters.sim import SimEngine
from agentrt.engine_adapters.sim.batcher import Batcher
from agentrt.engine_adapters.sim.sequence import SeqStatus
from agentrt.programs.records import ProgramStatus
from agentrt.replay import make_scaling, replay
from agentrt.replay.trace import LLMStep, ToolStep, TraceProgram
from agentrt.runtime.scheduling.policies import PolicyName, make_policy
from agentrt.runtime.runner import run

turn = st.tuples(st.integers(1, 4000), st.integers(1, 300), st.sampled_from([None, 0.0, 0.05, 1.0, 7.5, 60.0]))
program_turns = st.lists(turn, min_size=1, max_size=4)


def trace_program(i: int, turns: list[tuple[int, int, float | None]]) -> TraceProgram:
    steps: list[Any] = []
    context = 0
    for new, out, tool_s in turns:
        context += new
        steps.append(LLMStep(kind="llm", input_tokens=context, output_tokens=out, new_input_tokens=new))
        context += out
        steps.append(ToolStep(kind="tool", name="bash" if i % 2 else "edit", duration_s=tool_s))
    return TraceProgram(program_id=f"t{i}", steps=steps)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workload=st.lists(program_turns, min_size=1, max_size=6),
       arrivals=st.lists(st.floats(0, 30), min_size=6, max_size=6),
       policy=st.sampled_from([p.value for p in PolicyName]),
       num_gpu_blocks=st.sampled_from([8, 64, 256, 4096]))
def test_no_call_lost_kv_back_to_baseline_pins_within_cap(workload: list[list[tuple[int, int, float | None]]],
                                                          arrivals: list[float], policy: str,
                                                          num_gpu_blocks: int) -> None:
    wanted_mismatches: list[tuple[int, int]] = []
    schedule = Batcher.schedule

    def checked_schedule(self: Batcher, now: float) -> Any:
        full = sum(self.kv.blocks_for(s.num_tokens if s.preemptions else s.call.num_new_tokens)
                   for s in self.seqs.values() if s.status is SeqStatus.WAITING)
        if full != self.driver.wanted_blocks():
            wanted_mismatches.append((full, self.driver.wanted_blocks()))
        return schedule(self, now)

    Batcher.schedule = checked_schedule  # type: ignore[method-assign]
    try:
        run_and_check(workload, arrivals, policy, num_gpu_blocks)
    finally:
        Batcher.schedule = schedule  # type: ignore[method-assign]
    assert not wanted_mismatches


def run_and_check(workload: list[list[tuple[int, int, float | None]]], arrivals: list[float], policy: str,
                  num_gpu_blocks: int) -> None:
    programs = [trace_program(i, turns) for i, turns in enumerate(workload)]

    async def main() -> tuple[Any, SimEngine]:
        engine = SimEngine(num_gpu_blocks=num_gpu_blocks, block_size=16, record_iterations=100_000)
        result = await replay(programs, engine, policy, arrivals[:len(programs)], make_scaling(programs))
        return result, engine

    result, engine = run(main)
    stats = engine.statistics()
    assert len(result.metrics) == len(programs)
    assert all(r.status is not ProgramStatus.RUNNING for r in result.records)
    issued = sum(c.kind.value == "llm" for r in result.records for c in r.calls.values())
    assert issued == stats.num_calls + stats.num_rejected  # accepted or rejected at once (PromptTooLongError)
    assert stats.num_calls == stats.num_finished + stats.num_aborted  # every accepted call ended
    for m, p in zip(sorted(result.metrics, key=lambda m: m.trace_id), sorted(programs, key=lambda p: p.program_id)):
        assert m.status == "ok" or (m.error or "").startswith("PromptTooLongError"), m  # the one way a replay fails
        if m.status == "ok":
            assert m.num_llm_calls == len(p.llm_steps)
    assert stats.num_used_blocks == 0 and stats.num_pinned_blocks == 0
    cap = make_policy(policy).max_pinned_share() * stats.num_blocks
    assert max((it.num_pinned_blocks for it in stats.iterations), default=0) <= cap
