"""The policy interface shared by every engine.

NOTE on the invariants every engine keeps (the simulator and the vLLM plugin alike):
- Service is what a call received from the engine: the summed duration of the engine iterations
  that scheduled it (prefill chunks and decode steps alike; an iteration's whole duration counts
  for every call in its batch). A program's attained service is the sum over its finished calls
  (`ProgramState.service`, never below what the runtime passes in `SchedHints.program_service`).
- Waiting is wall time spent in the waiting queue (from arrival, or from a preemption, until
  admission). When the engine runs iterations back to back this equals the summed durations of
  the iterations a call waited through, and it lets the scheduler compute waiting lazily instead
  of touching every waiting call every iteration.
- A call's sort key changes only at arrival, demotion (while it runs) and promotion (while it
  waits), so the scheduler keeps the waiting queue sorted incrementally.
- A pin holds a program's KV blocks out of eviction from the finish of one of its calls until the
  first of: its next call is admitted, the program ends, the TTL expires, or the policy releases
  it under memory pressure.

Engines call the policy only through `ProgramScheduler` (runtime/scheduling/scheduler.py); policies never
do I/O and never look at engine internals, so each decision is testable on hand-built states.
"""

from __future__ import annotations

import enum
import math
from abc import ABC
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import add
from typing import ClassVar

from agentrt.runtime.scheduling.pinning import PinQuery, PinState, SortKey
from agentrt.runtime.scheduling.policies.config import PolicyConfig


class CallPhase(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"


@dataclass(slots=True)
class ProgramState:
    """Per-program state the scheduler keeps inside the engine."""

    program_id: str
    arrival: float  # program start from the hints, or its first call's arrival at the engine
    service: float = 0.0  # attained service of its finished calls (max with the hints)
    wait: float = 0.0  # summed waiting of its finished calls (anti-starvation numerator)
    num_calls: int = 0
    context_tokens: int = 0  # prompt tokens of its latest call: the KV its context needs
    resident: bool = False  # admitted to the KV working set (policies with `gates_residency`)
    idle_since: float = math.inf  # when its last call in flight ended (residency idle release)
    reprefill_s: float = math.inf  # engine's estimate, at its last call's finish, of prefilling its context again
    kind: str | None = None  # the program's kind (its @program name), for policies that learn sizes per kind


@dataclass(slots=True)
class CallState:
    """Per-call state. The first block is fixed at arrival; the rest is updated as it runs."""

    call_id: str
    program_id: str
    arrival: float
    program_arrival: float = 0.0
    program_service: float = 0.0  # PLAS priority: the program's service before this call
    priority: float = 0.0  # ATLAS priority: critical-path service of the call's parents
    num_prompt_tokens: int = 0
    num_new_tokens: int = 0  # prompt tokens not in the prefix cache at arrival; after a preemption, all its tokens
    prefill_time: float = 0.0  # cost-model estimate of the prefill, for skip-join MLFQ
    gap_samples: tuple[float, ...] = ()
    remaining_work: float = math.inf  # clairvoyant hint (trace replay only; read by the oracle)
    had_pin: bool = False  # its program's KV was pinned when it arrived
    memory_short: bool = False  # KV memory was short when it arrived (ProgramScheduler.memory_short)
    pending: bool = False  # held back by residency gating (ProgramScheduler._pending)
    seq: int = 0  # arrival order at the scheduler: the final tie-break of every key

    phase: CallPhase = CallPhase.WAITING
    key: SortKey = ()  # cached policy sort key (lower runs first)
    service: float = 0.0  # own service so far
    level: int = 0  # queue index (0 = top) for the discretized policies
    level_service: float = 0.0  # own service since entering `level` (demotion)
    waiting_since: float = 0.0  # start of the current waiting spell
    total_wait: float = 0.0  # waiting of the finished spells
    ratio_wait: float = 0.0  # anti-starvation wait of finished spells since the last promotion
    ratio_from: float = 0.0  # start of the anti-starvation count in the current spell
    ratio_service: float = 0.0  # anti-starvation service since the last promotion
    promote_at: float = math.inf  # when it will be promoted if still waiting (scheduler's heap)
    num_promotions: int = 0
    num_preemptions: int = 0

    def wait_at(self, now: float) -> float:
        """Total waiting so far."""
        spell = now - self.waiting_since if self.phase is CallPhase.WAITING else 0.0
        return self.total_wait + spell

    def ratio_wait_at(self, now: float) -> float:
        """Waiting counted by anti-starvation (since arrival or the last promotion)."""
        spell = now - self.ratio_from if self.phase is CallPhase.WAITING else 0.0
        return self.ratio_wait + spell


class Policy(ABC):
    """One scheduling policy. The base class is FCFS; subclasses override the hooks that differ."""

    name: ClassVar[str] = "base"
    pins_kv: ClassVar[bool] = False  # does this policy pin KV across tool calls?
    gates_residency: ClassVar[bool] = False  # admit calls of new programs only while their contexts fit

    def __init__(self, config: PolicyConfig) -> None:
        self.config = config

    # -- ordering -----------------------------------------------------------------------------
    def on_arrival(self, call: CallState, program: ProgramState) -> None:
        """Place a new call (e.g. pick its queue level)."""

    def on_program_end(self, program: ProgramState) -> None:
        """A program ended with `program.service` attained (policies that learn sizes online)."""

    def gate_order(self, calls: list[CallState], programs: Mapping[str, ProgramState]) -> list[CallState]:
        """Residency gating's order of admission (policies with `gates_residency`): `calls`, the
        gated calls in queue order, reordered. Default: queue order."""
        return calls

    def sort_key(self, call: CallState, program: ProgramState, pinned: bool) -> SortKey:
        """Lower runs first (the scheduler appends `call.seq`). FCFS: arrival order per call."""
        return (call.arrival,)

    def promotion_time(self, call: CallState, program: ProgramState) -> float:
        """When the waiting `call` becomes starved and is promoted (inf: never). Pure."""
        return math.inf

    def promote(self, call: CallState, now: float) -> None:
        """Move a starved call to the top queue, resetting only the call's own counters."""
        call.level = 0
        call.level_service = 0.0
        call.ratio_wait = 0.0
        call.ratio_service = 0.0
        call.ratio_from = now
        call.num_promotions += 1

    def account_service(self, call: CallState, duration: float) -> bool:
        """Add one iteration's service to a scheduled call; demote it when it exhausted its
        queue's quantum. Returns True when its level changed."""
        call.service += duration
        call.level_service += duration
        call.ratio_service += duration
        return self._demote(call)

    def account_iterations(self, calls: Sequence[CallState], durations: Sequence[float]) -> list[CallState]:
        """`account_service` for every call of consecutive iterations that each scheduled all of
        `calls` (one duration per iteration, in order); returns a call once per level change. A
        policy that overrides `account_service` overrides this too."""
        if len(durations) > 1 and not self._demotes():  # the same sums, added in order, in C
            for call in calls:
                call.service = reduce(add, durations, call.service)
                call.level_service = reduce(add, durations, call.level_service)
                call.ratio_service = reduce(add, durations, call.ratio_service)
            return []
        demoted = []
        for call in calls:
            for duration in durations:
                call.service += duration
                call.level_service += duration
                call.ratio_service += duration
                if self._demote(call):
                    demoted.append(call)
        return demoted

    def _demote(self, call: CallState) -> bool:
        return False

    def _demotes(self) -> bool:
        """Whether this policy's `_demote` can ever change a level (the base one never does)."""
        return type(self)._demote is not Policy._demote

    def steps_without_level_change(self, calls: Sequence[CallState], durations: Sequence[float]) -> list[int]:
        """Per call, how many of `durations` (consecutive iterations that schedule it, in order)
        `account_iterations` can account before it may change the call's level: until then
        nothing that sorts or preempts the call changes, so an engine may account them later,
        in one go (decode spans). `len(durations)` when it may not; conservative."""
        return [0 if self._demotes() else len(durations)] * len(calls)

    # -- preemption ---------------------------------------------------------------------------
    def can_preempt_for(self, candidate: CallState, victim: CallState) -> bool:
        """May a waiting `candidate` preempt a running `victim` to get memory? FCFS: never (stock
        vLLM preempts only when running calls run out of memory, the latest arrival first)."""
        return False

    # -- pinning ------------------------------------------------------------------------------
    def pin_ttl(self, query: PinQuery) -> float:
        """Seconds to keep the program's KV pinned after a call finishes (0: do not pin)."""
        return 0.0

    def max_pinned_share(self) -> float:
        """Pins may hold at most this fraction of the KV cache together."""
        return 1.0

    def pin_release_key(self, pin: PinState) -> SortKey:
        """Under memory pressure, pins are released in increasing order of this key."""
        return (-pin.start,)


__all__ = ["CallPhase", "CallState", "PinQuery", "PinState", "Policy", "ProgramState"]
