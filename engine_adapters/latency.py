"""`ClientLatency`: an engine behind a client's per-call latency, for the simulator to match a real engine.

A call to vLLM through its engine-core client reaches the scheduler a little after it is issued
(IPC to the engine-core process) and its result comes back a little after the engine finished it
(output serialization, IPC, detokenization): measured on the CPU benchmark, ~1.5-2 ms in and ~4 ms
out per call (benchmarks/vllm_cpu.py records both per run). The simulator's calls have none. On a
memory-bound workload those milliseconds lengthen every gap between a program's calls, during
which its context waits in the prefix cache for eviction, so they move the counts.

Alternative considered: arrival times in the future inside `SimEngine`'s inbox (no task per call),
but its loop and decode-span horizon assume events arrive at the present; a wrapper keeps the
engine untouched (and applies to any engine) at the price of the runtime's task-per-call path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from agentrt.engine_adapters.base import Engine, GenerationRequest, GenerationResult
from agentrt.exceptions import ConfigError

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from agentrt.runtime.scheduling.policies.config import PolicyConfig

__all__ = ["ClientLatency"]


class ClientLatency(Engine):
    """`engine`, each call delivered `request_s` after it is issued and answered `response_s` after
    it ends. Everything else is the wrapped engine's (attributes included). Raises ConfigError for a
    negative latency."""

    def __init__(self, engine: Engine, request_s: float, response_s: float) -> None:
        if not (request_s >= 0 and response_s >= 0):
            raise ConfigError(f"client latencies must be >= 0 seconds (got request_s={request_s}, "
                              f"response_s={response_s})")
        self.engine, self.request_s, self.response_s = engine, request_s, response_s
        self.name = engine.name

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    async def start(self, policy: PolicyConfig, task_group: TaskGroup) -> None:
        await self.engine.start(policy, task_group)

    async def stop(self) -> None:
        await self.engine.stop()

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        await anyio.sleep(self.request_s)
        result = await self.engine.generate(request)
        await anyio.sleep(self.response_s)
        return result

    async def abort(self, call_id: str) -> None:
        await self.engine.abort(call_id)

    async def release_program(self, program_id: str) -> None:
        await self.engine.release_program(program_id)

    async def hint_tool(self, program_id: str, tool_name: str, gap_samples: tuple[float, ...]) -> None:
        await self.engine.hint_tool(program_id, tool_name, gap_samples)

    def statistics(self) -> Any:
        return self.engine.statistics()

    def now(self) -> float:
        return self.engine.now()
