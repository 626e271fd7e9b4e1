"""Generated program shapes (hypothesis): LLM calls, sleeps, tool calls, failures, waits that never
end, parallel branches and sub-programs, several programs at once on virtual time. Every program
ends, never hangs: ok when nothing in it fails or waits forever; else failed with its own error
or a DeadlockError naming it."""

from __future__ import annotations

from typing import Any

import anyio
from hypothesis import given, settings
from hypothesis import strategies as st

import agentrt
from agentrt.engine_adapters.sim import SimEngine
from agentrt.programs.records import ProgramStatus
from agentrt.runtime.runner import run

leaf = st.one_of(st.tuples(st.just("llm"), st.integers(1, 50)), st.tuples(st.just("sleep"), st.floats(0, 10)),
                 st.tuples(st.just("tool"), st.floats(0, 10)), st.just(("raise",)), st.just(("hang",)))
shape = st.recursive(st.lists(leaf, min_size=1, max_size=3),
                     lambda inner: st.lists(st.one_of(leaf, st.tuples(st.just("gather"), st.lists(inner, min_size=1, max_size=3)),
                                                      st.tuples(st.just("sub"), inner)), min_size=1, max_size=3),
                     max_leaves=8)


@agentrt.tool
async def pause(seconds: float) -> None:
    await anyio.sleep(seconds)


async def run_steps(steps: list[Any]) -> None:
    for step in steps:
        kind = step[0]
        if kind == "llm":
            await agentrt.llm("x " * step[1], max_tokens=step[1])
        elif kind == "sleep":
            await anyio.sleep(step[1])
        elif kind == "tool":
            await pause(step[1])
        elif kind == "raise":
            raise ValueError("boom")
        elif kind == "hang":
            await anyio.Event().wait()
        elif kind == "gather":
            await agentrt.gather(*(run_steps(branch) for branch in step[1]))
        else:
            await shaped(step[1])


@agentrt.program
async def shaped(steps: list[Any]) -> str:
    await run_steps(steps)
    return "done"


def kinds(steps: list[Any]) -> set[str]:
    out: set[str] = set()
    for step in steps:
        out.add(step[0])
        if step[0] == "gather":
            for branch in step[1]:
                out |= kinds(branch)
        elif step[0] == "sub":
            out |= kinds(step[1])
    return out


@settings(max_examples=60, deadline=None)
@given(shapes=st.lists(shape, min_size=1, max_size=4))
def test_every_program_ends_ok_or_with_its_error(shapes: list[list[Any]]) -> None:
    async def main() -> list[agentrt.ProgramRecord]:
        async with agentrt.Runtime(engine=SimEngine()) as rt:
            handles = [rt.submit(shaped, s) for s in shapes]
        return [h.record for h in handles]

    for steps, record in zip(shapes, run(main)):
        present = kinds(steps) & {"raise", "hang"}
        if not present:
            assert record.status is ProgramStatus.OK, record.error
            continue
        assert record.status is ProgramStatus.FAILED
        assert record.error is not None
        if present == {"raise"}:
            assert "ValueError: boom" in record.error
        elif present == {"hang"}:
            assert "DeadlockError: deadlock: program shaped" in record.error
        else:
            assert "ValueError: boom" in record.error or "DeadlockError" in record.error
