"""TTL pinning shared by continuum and agentrt: Continuum's cost/benefit (runtime/scheduling/pinning.py)."""

from __future__ import annotations

from typing import ClassVar

from agentrt.runtime.scheduling.pinning import PinQuery, choose_ttl, cost_rate
from agentrt.runtime.scheduling.policies.config import PolicyConfig


class TTLPinning:
    """Mixin: pin for the TTL that maximizes P(gap <= tau) * B - c * tau."""

    config: PolicyConfig
    pins_kv: ClassVar[bool] = True

    def pin_ttl(self, query: PinQuery) -> float:
        c = cost_rate(query.kv_share, query.demand, idle_cost=self.config.pin_idle_cost,
                      max_demand=self.config.max_demand_factor)
        return choose_ttl(query.gap_samples, query.benefit, c, self.config.max_ttl)
