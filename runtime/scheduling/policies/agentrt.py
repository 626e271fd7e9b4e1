"""`agentrt` (ours, the default): ATLAS queues with anti-starvation, plus tool-aware TTL pinning
whose cost grows with memory demand, bounded to `max_pinned_fraction` of the KV cache, and
residency gating: a program joins the KV working set only while the resident programs' contexts
fit `residency_fraction` of the cache (`ProgramScheduler._admit_pending`), so contexts are not
evicted during tool calls and re-prefilled at every turn once the cache is oversubscribed.

ATLAS's order and the pinned-first tie-break apply to a call that arrives while KV memory is short
(`ProgramScheduler.memory_short`: the waiting calls wanted more blocks than were free at the last
pin decision). Then the queue is by level, and inside a level a call whose program's KV was pinned
when it arrived goes first (`pinned_first`): its context is resident, so it prefills little, and
admitting it ends the pin before pressure releases it; then the call whose program arrived first
(program-level FCFS, as continuum's: by call arrival a program's next call queued behind the first
calls of programs that arrived during its tool call, and on the small CPU caches agentrt lost to
fcfs; docs/scheduling.md, "Tenth pass"). A call that arrives while memory is not
short (e.g. on an engine bound by batch slots) is queued by arrival in the top level: there least-
attained-service order only lost to fcfs on the measured agent traces, and pinned-first lets the
same programs keep the slots (1.09-1.43x fcfs; README, "Workloads, the oracle, and what closes the
gap"); `atlas_always` orders every call as under pressure. Under memory pressure pins are released
lowest priority first, i.e. the program with the most attained service first (it would sort last
in the queues anyway). A waiting call preempts a running one for order (ATLAS: a later queue) only
while memory is short and only if the victim's program has attained the service of
`order_preemption_level`'s queue (its attained service, not its call's queue, which anti-starvation
resets): the victim's program leaves the working set and waits at the gate, which cost a program that had
attained little more than finishing it would have (docs/scheduling.md, "Ninth pass").

Known-long programs (`nearest_end_level`): least attained service first is the mean-JCT-optimal
order only while the hazard rate falls (a program that has run long is likely to run longer). On
agent traces it does so only up to the short programs' sizes (bundled traces: BFCL programs
generate 256-3,009 output tokens, SWE-bench ones 7,074-57,989); past them a program is a long one,
whose remaining turns shrink as it runs. So from that queue down (default: 32 s attained), the
program with the most attained service goes first: the Gittins index's shape for such a mix,
without its learned distribution (the `gittins` policy needs finished programs first, and measured
no better on the slices). Alternatives measured (docs/scheduling.md, "Ordering known-long programs"): the
learned Gittins index for pressure-time calls, a cut at other queues, and a clairvoyant order at
the gate only (the order of admission to the working set mattered little: the oracle with a FIFO
gate is within 5% of the oracle)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from itertools import accumulate
from operator import add
from typing import ClassVar

from agentrt.runtime.scheduling.pinning import SortKey
from agentrt.runtime.scheduling.policies.atlas import ATLASPolicy
from agentrt.runtime.scheduling.policies.base import CallState, PinState, ProgramState
from agentrt.runtime.scheduling.policies.config import PolicyConfig
from agentrt.runtime.scheduling.policies.kinds import KindSizes
from agentrt.runtime.scheduling.policies.ttl import TTLPinning


def attained(call: CallState) -> float:
    """The service the call's program has attained: its critical path (or its finished calls'
    service) before the call, plus the call's own. Not the call's queue: anti-starvation promotes
    a call that waited long to the top queue whatever its program attained."""
    return max(call.program_service, call.priority) + call.service


class AgentRTPolicy(TTLPinning, ATLASPolicy):
    name = "agentrt"
    gates_residency = True
    orders_gate_by_kind: ClassVar[bool] = True  # `kind_gate_ratio`; the bounds built on agentrt (oracle, gittins) do not

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self.long_level = config.nearest_end_level or config.num_queues  # num_queues: never reached
        level = config.order_preemption_level  # with fewer queues, the last one
        lower = (0.0, *config.queue_boundaries())  # each queue's lower boundary (s of service)
        self.order_service = None if level is None else lower[min(level, config.num_queues - 1)]
        ratio = config.kind_gate_ratio if self.orders_gate_by_kind else None
        self.kinds = KindSizes(ratio) if ratio is not None else None

    def on_arrival(self, call: CallState, program: ProgramState) -> None:
        super().on_arrival(call, program)
        if self.kinds is not None:
            self.kinds.seen(program)

    def on_program_end(self, program: ProgramState) -> None:
        super().on_program_end(program)
        if self.kinds is not None:
            self.kinds.ended(program)

    def gate_order(self, calls: list[CallState], programs: Mapping[str, ProgramState]) -> list[CallState]:
        """Programs of a kind known to be short first (kinds.py), else queue order (a stable sort)."""
        ranks = self.kinds.ranks(programs[c.program_id].kind for c in calls) if self.kinds is not None else None
        if not ranks:
            return calls
        return sorted(calls, key=lambda call: ranks.get(programs[call.program_id].kind or "", 0))

    def sort_key(self, call: CallState, program: ProgramState, pinned: bool) -> SortKey:
        if not (call.memory_short or self.config.atlas_always):
            return (0, self.config.pinned_first, 0.0, call.arrival, call.arrival)  # by arrival; as long as the key below
        level = min(call.level, self.long_level)
        nearest_end = -call.program_service if level == self.long_level else 0.0  # fixed at arrival
        return (level, self.config.pinned_first and not pinned, nearest_end, call.program_arrival, call.arrival)

    def can_preempt_for(self, candidate: CallState, victim: CallState) -> bool:
        if self.order_service is not None and attained(victim) < self.order_service:
            return False  # a program that has attained little: cheaper to finish than to send back to the gate
        return super().can_preempt_for(candidate, victim)

    def steps_without_level_change(self, calls: Sequence[CallState], durations: Sequence[float]) -> list[int]:
        """Also stop where a call's attained service may reach `order_service`: `can_preempt_for`
        reads it, so a decode span must account the call by then, as step by step. Conservative by
        a relative 1e-9 (attained service adds the steps to a different first term than the call's
        own service does)."""
        steps = super().steps_without_level_change(calls, durations)
        if self.order_service is None:
            return steps
        bound = self.order_service * (1.0 - 1e-9)
        for i, call in enumerate(calls):
            start = attained(call)
            if steps[i] and start < self.order_service:
                steps[i] = min(steps[i], max(bisect_left(list(accumulate(durations, add, initial=start)), bound) - 1, 0))
        return steps

    def max_pinned_share(self) -> float:
        return self.config.max_pinned_fraction

    def pin_release_key(self, pin: PinState) -> SortKey:
        return (-pin.program_service, -pin.priority, -pin.start)
