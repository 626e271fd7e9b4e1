"""Accounting records of calls and programs.

Times are on the runtime's clock (`anyio.current_time()`: virtual under the simulator). Service is
what a call received from the engine: the summed duration of the engine iterations that scheduled
it (see `agentrt.runtime.scheduling.policies.base`). Tool calls receive no engine service.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field


class CallKind(enum.Enum):
    LLM = "llm"
    TOOL = "tool"
    PROGRAM = "program"  # a sub-program, as seen from its caller's DAG


class CallStatus(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (CallStatus.DONE, CallStatus.FAILED, CallStatus.CANCELLED)


class ProgramStatus(enum.Enum):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self is not ProgramStatus.RUNNING


@dataclass(slots=True)
class CallRecord:
    """One LLM, tool or sub-program call. Filled in as the call progresses."""

    call_id: str
    program_id: str
    kind: CallKind
    name: str
    parent_ids: tuple[str, ...]
    arrival: float
    priority: float = 0.0  # the policy input at issue: critical-path service of its parents (ATLAS)
    status: CallStatus = CallStatus.PENDING
    first_scheduled: float | None = None
    finish: float | None = None
    queue_wait: float = 0.0  # engine: time waiting before first scheduled, plus after preemptions
    prefill_tokens: int = 0  # prompt tokens computed by the engine (prompt - cached, + recomputed)
    cached_tokens: int = 0  # prompt tokens served from the prefix cache
    decode_tokens: int = 0
    service_time: float = 0.0  # engine iterations that scheduled this call, summed
    tool_time: float = 0.0
    pinned: bool = False  # the engine pinned the program's KV after this call
    preemptions: int = 0
    recomputed_tokens: int = 0
    child_program_id: str | None = None  # PROGRAM calls: the sub-program instance
    error: str | None = None

    @property
    def latency(self) -> float:
        return (self.finish - self.arrival) if self.finish is not None else math.nan


@dataclass(slots=True)
class ProgramRecord:
    """One program instance. `attained_service` is the PLAS input, `critical_path_service` ATLAS's."""

    program_id: str
    name: str
    start: float
    parent_id: str | None = None
    status: ProgramStatus = ProgramStatus.RUNNING
    finish: float | None = None
    error: str | None = None
    traceback: str | None = None
    attained_service: float = 0.0
    critical_path_service: float = 0.0
    num_calls: int = 0
    calls: dict[str, CallRecord] = field(default_factory=dict, repr=False)

    @property
    def jct(self) -> float:
        """Job completion time: finish - start (NaN while running)."""
        return (self.finish - self.start) if self.finish is not None else math.nan

    def llm_calls(self) -> list[CallRecord]:
        return [c for c in self.calls.values() if c.kind is CallKind.LLM]
