"""Replay trace programs as real agentrt programs against an engine.

Each trace program becomes an `@program` that issues its steps in order: an LLM call whose prompt
is the previous turn's context (prompt + output, as `Tokens`) plus the recorded new tokens, so
prefix reuse is real, generating exactly the recorded output length; then its tool call(s), each a
real `@tool` call (one tool per recorded tool name, so the latency predictor learns per name)
that sleeps for the recorded duration. Programs arrive at the given times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from agentrt.engine_adapters.base import Engine
from agentrt.programs.decorators import llm, program
from agentrt.programs.records import ProgramRecord
from agentrt.programs.tokens import Tokens
from agentrt.replay.metrics import ProgramMetrics, Summary, summarize
from agentrt.replay.trace import LLMStep, TraceProgram
from agentrt.replay.workload import Scaling
from agentrt.runtime.limits import RunLimits
from agentrt.runtime.scheduling.policies import PolicyConfig, policy_config
from agentrt.runtime.runtime import ProgramHandle, Runtime
from agentrt.tools.registry import Tool

_tools: dict[str, Tool[Any, Any]] = {}


def recorded_tool(name: str) -> Tool[Any, Any]:
    """A tool named `name` that lasts the duration it is given (not added to the registry)."""
    if name not in _tools:
        async def replayed(duration_s: float) -> None:
            await anyio.sleep(duration_s)

        _tools[name] = Tool(replayed, name=name, description=f"replay of tool {name}")
    return _tools[name]


@program(name="trace-program")
async def trace_program(trace: TraceProgram, scaling: Scaling, system: Tokens) -> int:
    """Replay one trace program; returns the number of tokens it generated."""
    context: Tokens | None = None
    generated = 0
    remaining = sum(scaling.tokens(s.output_tokens, at_least=1) for s in trace.llm_steps)
    for i, step in enumerate(trace.steps):
        if not isinstance(step, LLMStep):
            await recorded_tool(step.name)(step.duration_s or 0.0)
            continue
        target = scaling.tokens(step.input_tokens, at_least=1)
        key = f"{trace.program_id}/{i}"
        if context is None or target < len(context):  # first turn, or the context was cut: no reuse
            prompt = system + Tokens.synthetic(max(1, target - len(system)), key=key)
        else:
            prompt = context + Tokens.synthetic(target - len(context), key=key)
        max_tokens = scaling.tokens(step.output_tokens, at_least=1)
        done = await llm(prompt, max_tokens=max_tokens, ignore_eos=True, remaining_work=remaining)
        remaining -= max_tokens
        context = done.context
        generated += done.output_tokens
    return generated


_by_source: dict[str, Any] = {}


def trace_program_for(trace: TraceProgram) -> Any:
    """`trace_program` named for the agent that recorded the trace (its `source`): programs of one
    agent are one kind of program, as an agent's `@program` function is."""
    if not trace.source:
        return trace_program
    if trace.source not in _by_source:
        _by_source[trace.source] = program(name=trace.source)(trace_program.fn)
    return _by_source[trace.source]


@dataclass(slots=True)
class ReplayResult:
    policy: str
    rate: float | None
    metrics: list[ProgramMetrics]
    summary: Summary
    engine_stats: Any = None
    records: list[ProgramRecord] = field(default_factory=list, repr=False)


async def replay(programs: Sequence[TraceProgram], engine: Engine, policy: str | PolicyConfig,
                 arrivals: Sequence[float] | None, scaling: Scaling, *, rate: float | None = None,
                 system_prompt_tokens: int = 0,
                 on_finish: Callable[[ProgramMetrics], None] | None = None,
                 limits: RunLimits | None = None) -> ReplayResult:
    """Run `programs` to completion on `engine`. They arrive at `arrivals` (seconds from now);
    with `arrivals=None` they run one at a time, each alone on the engine (the unloaded case)."""
    system = Tokens.synthetic(system_prompt_tokens, key="system-prompt")
    metrics: list[ProgramMetrics] = []
    cfg = policy_config(policy)

    limits = limits or RunLimits()
    async with Runtime(engine=engine, policy=cfg, program_timeout=limits.program_timeout,
                       deadline=limits.deadline) as rt:
        t0 = rt.now()

        async def one(handle: ProgramHandle[int], trace: TraceProgram) -> None:
            try:
                await handle
            except Exception:  # recorded as failed in the program's record
                pass
            m = ProgramMetrics.of(trace.program_id, handle.record)
            metrics.append(m)
            if on_finish is not None:
                on_finish(m)

        if arrivals is None:
            for trace in programs:
                await one(rt.submit(trace_program_for(trace), trace, scaling, system), trace)
        else:  # one task submits in arrival order, so program ids do not depend on task order
            async with anyio.create_task_group() as tg:
                for at, i in sorted((at, i) for i, at in enumerate(arrivals)):
                    await anyio.sleep_until(t0 + at)
                    tg.start_soon(one, rt.submit(trace_program_for(programs[i]), programs[i], scaling, system), programs[i])
        records = list(rt.records)
    metrics.sort(key=lambda m: (m.arrival, m.program_id))
    return ReplayResult(policy=cfg.name.value, rate=rate, metrics=metrics, summary=summarize(metrics),
                        engine_stats=engine.statistics(), records=records)
