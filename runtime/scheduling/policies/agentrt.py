"""`agentrt` (ours, the default): ATLAS queues with anti-starvation, plus tool-aware TTL pinning
whose cost grows with memory demand, bounded to `max_pinned_fraction` of the KV cache, and
residency gating: a program joins the KV working set only while the resident programs' contexts
fit `residency_fraction` of the cache (`ProgramScheduler._admit_pending`), so contexts are not
evicted during tool calls and re-prefilled at every turn once the cache is oversubscribed.

ATLAS's order and the pinned-first tie-break apply to a call that arrives while KV memory is short
(`ProgramScheduler.memory_short`: the waiting calls wanted more blocks than were free at the last
pin decision). Then the queue is by level, and inside a level a call whose program's KV was pinned
when it arrived goes first (`pinned_first`): its context is resident, so it prefills little, and
admitting it ends the pin before pressure releases it. A call that arrives while memory is not
short (e.g. on an engine bound by batch slots) is queued by arrival in the top level: there least-
attained-service order only lost to fcfs on the measured agent traces, and pinned-first lets the
same programs keep the slots (1.09-1.43x fcfs; README, "Workloads, the oracle, and what closes the
gap"); `atlas_always` orders every call as under pressure. Under memory pressure pins are released lowest priority first, i.e. the program with the
most attained service first (it would sort last in the queues anyway)."""

from __future__ import annotations

from agentrt.runtime.scheduling.pinning import SortKey
from agentrt.runtime.scheduling.policies.atlas import ATLASPolicy
from agentrt.runtime.scheduling.policies.base import CallState, PinState, ProgramState
from agentrt.runtime.scheduling.policies.ttl import TTLPinning


class AgentRTPolicy(TTLPinning, ATLASPolicy):
    name = "agentrt"
    gates_residency = True

    def sort_key(self, call: CallState, program: ProgramState, pinned: bool) -> SortKey:
        if not (call.memory_short or self.config.atlas_always):
            return (0, self.config.pinned_first, call.arrival)
        return (call.level, self.config.pinned_first and not pinned, call.arrival)

    def max_pinned_share(self) -> float:
        return self.config.max_pinned_fraction

    def pin_release_key(self, pin: PinState) -> SortKey:
        return (-pin.program_service, -pin.priority, -pin.start)
