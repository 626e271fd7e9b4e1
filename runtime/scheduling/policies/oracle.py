"""`oracle` (a bound, never a default): clairvoyant shortest-remaining-program-first.

It knows each program's remaining work from the trace (`SchedHints.remaining_work`: output tokens
still to generate, passed by trace replay only) and orders both admission to the KV working set
and the waiting queue by it, on top of agentrt's pins and residency gating, so the gap between
agentrt and the oracle measures what knowing the future is worth and nothing else. Without the
hint (a live workload) every call sorts last and the policy is agentrt's gating with FCFS order.

Alternatives considered: SRPT by remaining engine time (needs the engine's cost model inside the
policy; output tokens rank programs the same way to first order, since decode dominates an agent
call) and no anti-starvation (SRPT's own: a large program's remaining work only shrinks, so its
rank only improves as it runs; a waiting one can still starve, and the bound reports that too).
"""

from __future__ import annotations

from collections.abc import Sequence

from agentrt.runtime.scheduling.policies.agentrt import AgentRTPolicy
from agentrt.runtime.scheduling.pinning import SortKey
from agentrt.runtime.scheduling.policies.base import CallState, ProgramState

PREEMPT_FACTOR = 0.5  # preempt a running call only for a program with under half its remaining work


class OraclePolicy(AgentRTPolicy):
    name = "oracle"
    orders_gate_by_kind = False  # measured as it was: its own order at the gate

    def on_arrival(self, call: CallState, program: ProgramState) -> None:
        call.level = 0

    def sort_key(self, call: CallState, program: ProgramState, pinned: bool) -> SortKey:
        return (call.remaining_work, not pinned, call.arrival)

    def promotion_time(self, call: CallState, program: ProgramState) -> float:
        return float("inf")

    def _demote(self, call: CallState) -> bool:
        return False

    def steps_without_level_change(self, calls: Sequence[CallState], durations: Sequence[float]) -> list[int]:
        return [len(durations)] * len(calls)  # its calls never change level by service (no demotion, above)

    def can_preempt_for(self, candidate: CallState, victim: CallState) -> bool:
        return candidate.remaining_work < PREEMPT_FACTOR * victim.remaining_work
