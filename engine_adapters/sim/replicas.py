"""`sim_replicas`: N simulated engines on one virtual clock (a shared `Lockstep`) behind a router."""

from __future__ import annotations

from typing import Any

from agentrt.engine_adapters.replicas import ReplicatedEngine
from agentrt.engine_adapters.sim.cost_model import CostModel
from agentrt.engine_adapters.sim.engine import SimEngine
from agentrt.engine_adapters.sim.lockstep import Lockstep
from agentrt.engine_adapters.sim.profiles import DEFAULT_PROFILE, Profile, get_profile
from agentrt.exceptions import ConfigError
from agentrt.runtime.scheduling.routing import Router, RouterConfig

# The decode batch the router's throughput estimate assumes: a few dozen agent calls with
# contexts of some thousand tokens (SWE-bench contexts average ~20K tokens; a smaller context
# makes decode look cheaper relative to prefill, which favours staying put).
_DECODE_BATCH, _DECODE_CONTEXT = 32, 8192


def router_config(profile: str | Profile = DEFAULT_PROFILE) -> RouterConfig:
    """Router throughputs from the profile's cost model: a full token budget of prefill in one
    iteration, and a decode batch of 32 calls with 8,192-token contexts."""
    p = get_profile(profile)
    cost = CostModel(p)
    budget = p.max_num_batched_tokens
    batch = min(_DECODE_BATCH, p.max_num_seqs)
    context = batch * _DECODE_CONTEXT
    return RouterConfig(prefill_tokens_per_s=budget / cost.prefill_time(budget),
                        decode_tokens_per_s=batch / cost.iteration_time(0, batch, context, context))


def sim_replicas(num_replicas: int, router: Router | str = "agentrt", profile: str | Profile | None = None,
                 *, config: RouterConfig | None = None, lookahead: bool = True, **options: Any) -> ReplicatedEngine:
    """`num_replicas` `SimEngine(profile, **options)` sharing one loop, behind `router`.
    `lookahead=False`: one iteration per step (the exactness reference, see `lockstep.py`).

    Raises ConfigError for num_replicas < 1, and what SimEngine raises for bad options."""
    if num_replicas < 1:
        raise ConfigError(f"--replicas must be >= 1, got {num_replicas}")
    profile = profile or DEFAULT_PROFILE
    lockstep = Lockstep(lookahead=lookahead)
    engines = [SimEngine(profile, lockstep=lockstep, **options) for _ in range(num_replicas)]
    return ReplicatedEngine(engines, router, config=config or router_config(profile),
                            kv_capacity_tokens=[e.kv_capacity_tokens for e in engines], sequencer=lockstep)
