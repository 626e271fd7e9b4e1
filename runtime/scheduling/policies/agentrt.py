"""`agentrt` (ours, the default): ATLAS queues with anti-starvation, plus tool-aware TTL pinning
whose cost grows with memory demand, bounded to `max_pinned_fraction` of the KV cache, and
residency gating: a program joins the KV working set only while the resident programs' contexts
fit `residency_fraction` of the cache (`ProgramScheduler._admit_pending`), so contexts are not
evicted during tool calls and re-prefilled at every turn once the cache is oversubscribed.

Inside a queue, a call whose program's KV was pinned when it arrived goes first (`pinned_first`)
if memory was short then (`ProgramScheduler.memory_short`): its context is resident, so it
prefills little, and admitting it ends the pin before pressure releases it. While memory is not
short the tie-break saves nothing and only lets the same programs keep the batch slots (1.33-1.43x
fcfs on a slot-bound engine, measured in the README), so the queue is by arrival then. Under memory pressure pins
are released lowest priority first, i.e. the program with the most attained service first (it
would sort last in the queues anyway)."""

from __future__ import annotations

from agentrt.runtime.scheduling.pinning import SortKey
from agentrt.runtime.scheduling.policies.atlas import ATLASPolicy
from agentrt.runtime.scheduling.policies.base import CallState, PinState, ProgramState
from agentrt.runtime.scheduling.policies.ttl import TTLPinning


class AgentRTPolicy(TTLPinning, ATLASPolicy):
    name = "agentrt"
    gates_residency = True

    def sort_key(self, call: CallState, program: ProgramState, pinned: bool) -> SortKey:
        return (call.level, self.config.pinned_first and not (pinned and call.memory_short), call.arrival)

    def max_pinned_share(self) -> float:
        return self.config.max_pinned_fraction

    def pin_release_key(self, pin: PinState) -> SortKey:
        return (-pin.program_service, -pin.priority, -pin.start)
