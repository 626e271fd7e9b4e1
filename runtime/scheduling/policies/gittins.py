"""`gittins`: agentrt's pins, gating and anti-starvation, with programs ordered by the Gittins
index of their attained service over the distribution of finished programs' service, learned
online.

Why: for unknown job sizes the Gittins index is the mean-response-time-optimal priority (Gittins;
Scully & Harchol-Balter). LAS (plas/atlas) is that optimum only when the hazard rate decreases;
agent programs are a mix (short function-calling programs, long SWE agents whose hazard rises
with the number of turns), so the index ranks a new program first (it may be short) but, among
programs known to be long, the one nearest its end first, where LAS would favour the newest and
thrash the KV cache.

    G(a) = max over D > 0 of P(S - a <= D | S > a) / E[min(S - a, D) | S > a]

from the empirical sample of finished programs' service S (a sliding window). With fewer than
`MIN_SAMPLES` samples the order is agentrt's (ATLAS queues). Pinned programs go first only for
calls that arrive while memory is short, as in agentrt: otherwise programs back from short tool
calls keep the batch slots of an engine bound by them (docs/scheduling.md, "Where plas wins").
"""

from __future__ import annotations

from bisect import insort
from collections import deque

from agentrt.runtime.scheduling.pinning import SortKey
from agentrt.runtime.scheduling.policies.agentrt import AgentRTPolicy
from agentrt.runtime.scheduling.policies.base import CallState, ProgramState
from agentrt.runtime.scheduling.policies.config import PolicyConfig

MIN_SAMPLES = 8
WINDOW = 512  # finished programs remembered (recent ones: workloads drift)


class ServiceDistribution:
    """Sliding window of finished programs' service, kept sorted for the index."""

    def __init__(self, window: int = WINDOW) -> None:
        self._recent: deque[float] = deque(maxlen=window)
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, service: float) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._sorted.remove(self._recent[0])
        self._recent.append(service)
        insort(self._sorted, service)

    def gittins_index(self, attained: float) -> float:
        """G(attained); 0 for a program past every finished one (nothing known: it goes last)."""
        above = [s - attained for s in self._sorted if s > attained]
        best, done = 0.0, 0.0
        m = len(above)
        for k, d in enumerate(above, 1):
            done += d
            best = max(best, k / (done + (m - k) * d))
        return best


class GittinsPolicy(AgentRTPolicy):
    name = "gittins"
    orders_gate_by_kind = False  # measured as it was: its own order at the gate

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config)
        self.finished = ServiceDistribution()

    def can_preempt_for(self, candidate: CallState, victim: CallState) -> bool:
        """Any later queue, as before agentrt's `order_preemption_level`: this policy is the reference
        order of the fourth and fifth passes of docs/scheduling.md, kept as it was measured."""
        return super(AgentRTPolicy, self).can_preempt_for(candidate, victim)

    def on_program_end(self, program: ProgramState) -> None:
        self.finished.add(program.service)

    def sort_key(self, call: CallState, program: ProgramState, pinned: bool) -> SortKey:
        if len(self.finished) < MIN_SAMPLES:
            return super().sort_key(call, program, pinned)
        promoted = call.level == 0 and call.num_promotions > 0
        pinned_first = self.config.pinned_first and call.memory_short and not pinned
        return (not promoted, pinned_first, -self.finished.gittins_index(program.service), call.arrival)
