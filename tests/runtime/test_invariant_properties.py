"""Scheduler and engine invariants under generated workloads (hypothesis): random traces, every
policy, small and large KV caches, random arrivals. Whatever happens:
- no program or call is lost: every program ends; the engine accepted or rejected every call
  issued, and finished or aborted every call it accepted;
- free KV returns to its baseline once every program has ended: no block referenced, none pinned;
- pins stay within their cap (the policy's `max_pinned_share` of the KV cache) at every iteration.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentrt.engine_adapters.sim import SimEngine
from agentrt.programs.records import ProgramStatus
from agentrt.replay import make_scaling, replay
from agentrt.replay.trace import LLMStep, ToolStep, TraceProgram
from agentrt.runtime.policies import PolicyName, make_policy
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
        assert m.status == "ok" or m.error, m  # a failed program says why
        if m.status == "ok":
            assert m.num_llm_calls == len(p.llm_steps)
    assert stats.num_used_blocks == 0 and stats.num_pinned_blocks == 0
    cap = make_policy(policy).max_pinned_share() * stats.num_blocks
    assert max((it.num_pinned_blocks for it in stats.iterations), default=0) <= cap
