"""`DecisionLog`: the scheduler's decisions, in the order it made them, as typed records.

Recorded at one place, the `ProgramScheduler`, which every engine embeds: the simulator and the
vLLM plugin therefore produce the same kind of log by construction, and a scripted scenario run
on both must produce the same sequence (tests/engine_adapters/test_parity.py). Records carry no
times: the simulator runs on virtual time, vLLM on the wall clock; what must agree is the order.

Off by default (`ProgramScheduler(decisions=None)`): each decision point then costs one `is None`
test. Alternative considered: deriving the sequence from `SchedulerStats` counters (already
free), but counts say how many, not in which order, nor which call or program.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class DecisionKind(str, enum.Enum):
    # calls
    ARRIVED = "arrived"  # registered, waiting
    HELD = "held"  # waits outside the working set (residency gating): at arrival, or after a preemption
    ADMITTED = "admitted"  # the engine admitted it (first time, or after a preemption)
    PREEMPTED = "preempted"  # a victim: waits again
    FINISHED = "finished"
    ABORTED = "aborted"
    # the working set (residency gating), per program
    JOINED = "joined"
    LEFT_PREEMPTED = "left_preempted"  # one of its calls was preempted for memory
    LEFT_IDLE = "left_idle"  # idle release: idle for residency_idle_s while another program waited
    # pins, per program
    PIN_GRANTED = "pin_granted"  # `ttl`: the policy's TTL
    PIN_REFUSED = "pin_refused"  # a positive TTL over the pinned-share bound
    PIN_ENDED = "pin_ended"  # its next call was admitted
    PIN_EXPIRED = "pin_expired"
    PIN_RELEASED = "pin_released"  # under memory pressure
    PIN_DROPPED = "pin_dropped"  # the program ended, or a tool hint re-decided the TTL to 0
    # programs
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision: its kind, the program, the call (calls' kinds only) and, for a granted pin,
    its TTL in seconds."""

    kind: DecisionKind
    program_id: str
    call_id: str = ""
    ttl: float = 0.0

    def as_list(self) -> list[str | float]:
        """Plain values (for crossing a process boundary); `Decision.from_list` reads them back."""
        return [self.kind.value, self.program_id, self.call_id, self.ttl]

    @classmethod
    def from_list(cls, values: list[str | float]) -> Decision:
        kind, program_id, call_id, ttl = values
        return cls(DecisionKind(kind), str(program_id), str(call_id), float(ttl))

    def __str__(self) -> str:
        subject = self.call_id or self.program_id
        return f"{self.kind.value}({subject}{f', ttl={self.ttl:g}' if self.ttl else ''})"


class DecisionLog:
    """An append-only list of decisions."""

    def __init__(self) -> None:
        self.records: list[Decision] = []

    def __len__(self) -> int:
        return len(self.records)

    def add(self, kind: DecisionKind, program_id: str, call_id: str = "", ttl: float = 0.0) -> None:
        self.records.append(Decision(kind, program_id, call_id, ttl))

    def since(self, start: int) -> list[Decision]:
        """The records from the `start`-th on (0: all)."""
        return self.records[start:]
