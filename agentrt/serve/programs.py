"""`ProgramTable`: the programs a server has seen over HTTP, their calls, DAG and tool gaps.

In process, a program's function tells the runtime when it starts, which calls depend on which,
when a tool runs and when it ends. Over HTTP all of it is inferred from requests:
- a call's parent is the call whose answer its messages start with (identity.py); a call with a
  parent that still has another child in flight is a parallel branch; ATLAS's priority of a call
  is its parent's priority plus the parent's service (the critical path up to it);
- a program's tool gap is the time from a response to the program's next request when none of its
  calls is in flight; it feeds the tool-latency predictor per program and, when the next request
  names the tools it ran (assistant `tool_calls` answered by `tool` messages), per tool name;
- a program ends on `DELETE /v1/programs/{id}`, on a request marked as its last, or when it has
  been idle longer than its idle timeout: `idle_factor` times the longest gap it was predicted to
  take (its own gap samples, else the global pool), and at least `min_idle_timeout`.
Every time is on the server's clock (`now` is passed in), so the table is pure and testable.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from agentrt.engine_adapters.base import SchedHints
from agentrt.programs.tokens import Tokens
from agentrt.runtime.scheduling.predictor import ToolLatencyPredictor
from agentrt.serve.identity import Identity


class ProgramState(enum.Enum):
    ACTIVE = "active"
    ENDED = "ended"


class EndReason(enum.Enum):
    DELETED = "deleted"
    LAST_CALL = "last_call"
    IDLE = "idle"
    SHUTDOWN = "shutdown"


@dataclass(slots=True)
class ServedCall:
    """One LLM call received over HTTP. `prompt`; `context` is prompt + output once it answered."""

    call_id: str
    program_id: str
    parent_id: str | None
    arrival: float
    priority: float
    tool_names: tuple[str, ...] = ()
    service_time: float = 0.0
    finish: float | None = None
    failed: bool = False
    prompt: Tokens | None = None
    context: Tokens | None = None


@dataclass(slots=True)
class ServedProgram:
    """A program seen over HTTP. `source` says how it was identified (identity.Identity.source);
    `kind` is which agent it is (program_kind.py; None: unknown), set by its first call."""

    program_id: str
    source: str
    arrival: float
    kind: str | None = None
    calls: dict[str, ServedCall] = field(default_factory=dict)
    in_flight: set[str] = field(default_factory=set)
    attained_service: float = 0.0
    last_finish: float | None = None
    max_parallel: int = 0
    num_branch_calls: int = 0
    gaps: list[float] = field(default_factory=list)
    tool_names: dict[str, int] = field(default_factory=dict)
    end: float | None = None
    end_reason: EndReason | None = None

    @property
    def state(self) -> ProgramState:
        return ProgramState.ACTIVE if self.end_reason is None else ProgramState.ENDED

    @property
    def jct(self) -> float | None:
        return None if self.end is None else self.end - self.arrival

    def summary(self) -> dict[str, object]:
        """What `/v1/programs` shows."""
        return {"id": self.program_id, "object": "agentrt.program", "state": self.state.value,
                "identified_by": self.source, "kind": self.kind, "inferred": self.source in ("inferred", "new"),
                "arrival": self.arrival, "num_calls": len(self.calls), "num_in_flight": len(self.in_flight),
                "max_parallel_calls": self.max_parallel, "num_branch_calls": self.num_branch_calls,
                "attained_service": self.attained_service, "tool_gaps": list(self.gaps),
                "tool_names": dict(self.tool_names), "end": self.end,
                "end_reason": self.end_reason.value if self.end_reason else None, "jct": self.jct}


class ProgramTable:
    """Active programs (and the most recent `max_ended` ended ones) with their calls and gaps.

    min_idle_timeout / idle_factor: a program idle (no call in flight) for longer than
    `max(min_idle_timeout, idle_factor * max(predicted gaps))` has ended.
    Raises ValueError for a negative timeout or a factor below 1."""

    def __init__(self, predictor: ToolLatencyPredictor | None = None, *, min_idle_timeout: float = 300.0,
                 idle_factor: float = 4.0, max_ended: int = 100_000) -> None:
        if min_idle_timeout < 0 or idle_factor < 1:
            raise ValueError(f"min_idle_timeout={min_idle_timeout} must be >= 0 and idle_factor={idle_factor} >= 1")
        self.predictor = predictor or ToolLatencyPredictor()
        self.min_idle_timeout, self.idle_factor = min_idle_timeout, idle_factor
        self.active: dict[str, ServedProgram] = {}
        self.ended: deque[ServedProgram] = deque(maxlen=max_ended)
        self._calls: dict[str, ServedCall] = {}  # calls of active programs
        self._num_calls = 0

    # -- calls ------------------------------------------------------------------------------------
    def begin_call(self, identity: Identity, now: float, tool_names: tuple[str, ...] = (),
                   expected_gap: float | None = None, kind: str | None = None) -> tuple[ServedCall, SchedHints]:
        """Register a call that arrived now and return it with the policy's inputs.

        tool_names: the tools whose results the request carries (they ran since the parent call).
        expected_gap: the client's estimate of the tool time after this call (header), used as the
        pin's gap distribution instead of the learned one.
        kind: the program's kind when this call starts it; a later call's is ignored (a program's
        kind is decided once, so the gate's per-kind sizes count it under one kind)."""
        program = self.active.get(identity.program_id)
        if program is None:
            program = self.active[identity.program_id] = ServedProgram(identity.program_id, identity.source, now,
                                                                       kind)
        self._observe_gap(program, now, tool_names)
        parent = self._calls.get(identity.parent_call_id or "") or self._last_call(program, identity)
        self._num_calls += 1
        call = ServedCall(f"{program.program_id}.c{len(program.calls) + 1}.{self._num_calls}", program.program_id,
                          parent.call_id if parent else None, now,
                          parent.priority + parent.service_time if parent else 0.0, tool_names)
        if parent is not None and any(self._calls[c].parent_id == call.parent_id for c in program.in_flight):
            program.num_branch_calls += 1
        program.calls[call.call_id] = self._calls[call.call_id] = call
        program.in_flight.add(call.call_id)
        program.max_parallel = max(program.max_parallel, len(program.in_flight))
        gaps = (expected_gap,) if expected_gap is not None else self.predictor.gap_samples(program.program_id)
        hints = SchedHints(program_arrival=program.arrival, program_service=program.attained_service,
                           priority=call.priority, gap_samples=gaps, program_kind=program.kind)
        return call, hints

    def finish_call(self, call_id: str, now: float, service_time: float, context: Tokens | None) -> None:
        """The call answered."""
        call = self._calls.get(call_id)
        if call is None:
            return
        call.finish, call.service_time, call.context = now, service_time, context
        program = self.active[call.program_id]
        program.attained_service += service_time
        program.in_flight.discard(call_id)
        program.last_finish = now

    def fail_call(self, call_id: str, now: float) -> None:
        """The call failed or was aborted; its program goes on."""
        call = self._calls.get(call_id)
        if call is None:
            return
        call.finish, call.failed = now, True
        program = self.active.get(call.program_id)
        if program is not None:
            program.in_flight.discard(call_id)

    def call(self, call_id: str) -> ServedCall | None:
        return self._calls.get(call_id)

    # -- program ends -----------------------------------------------------------------------------
    def end_program(self, program_id: str, now: float, reason: EndReason) -> ServedProgram | None:
        """End an active program; returns it (its `in_flight` calls are to be aborted), or None."""
        program = self.active.pop(program_id, None)
        if program is None:
            return None
        program.end, program.end_reason = program.last_finish if reason is EndReason.IDLE else now, reason
        for call_id in program.calls:
            call = self._calls.pop(call_id, None)
            if call is not None:
                call.prompt = call.context = None
        self.predictor.forget_program(program_id)
        self.ended.append(program)
        return program

    def idle_timeout(self, program_id: str) -> float:
        gaps = self.predictor.gap_samples(program_id)
        return max(self.min_idle_timeout, self.idle_factor * max(gaps, default=0.0))

    def idle_programs(self, now: float) -> list[str]:
        """Active programs with no call in flight for longer than their idle timeout."""
        return [p.program_id for p in self.active.values()
                if not p.in_flight and p.last_finish is not None
                and now - p.last_finish > self.idle_timeout(p.program_id)]

    def find(self, program_id: str) -> ServedProgram | None:
        """The active program, else the most recent ended one with this id."""
        program = self.active.get(program_id)
        if program is not None:
            return program
        return next((p for p in reversed(self.ended) if p.program_id == program_id), None)

    # -- helpers ----------------------------------------------------------------------------------
    def _observe_gap(self, program: ServedProgram, now: float, tool_names: tuple[str, ...]) -> None:
        if program.in_flight or program.last_finish is None:
            return
        gap = now - program.last_finish
        program.gaps.append(gap)
        self.predictor.observe_gap(program.program_id, gap)
        for name in tool_names:  # tools of one turn ran one after another (mini-swe-agent, SWE-agent): equal shares
            self.predictor.observe_tool(name, gap / len(tool_names))
            program.tool_names[name] = program.tool_names.get(name, 0) + 1

    def _last_call(self, program: ServedProgram, identity: Identity) -> ServedCall | None:
        """A named program's request that extends no known answer follows its latest answered call."""
        if identity.parent_call_id is not None or not program.calls:
            return None
        answered = [c for c in program.calls.values() if c.finish is not None and not c.failed]
        return max(answered, key=lambda c: c.finish or 0.0, default=None)
