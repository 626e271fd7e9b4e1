"""`sim_replicas`: N simulated engines on one virtual clock (a shared `Lockstep`) behind a router;
`pooled_profile`: the N engines as one, the bound on what balancing them can gain."""

from __future__ import annotations

from dataclasses import replace
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


def pooled_profile(num_replicas: int, profile: str | Profile = DEFAULT_PROFILE) -> Profile:
    """`num_replicas` replicas of `profile` as one engine: a bound for routers, not hardware.

    GPUs with the replicas' summed memory, bandwidths and FLOP/s, their summed token budget and
    batch size, and KV for their summed blocks (its weights are subtracted once per replica). The
    per-iteration overhead gains the weight reads the other replicas would do, so a decode
    iteration over n times one replica's batch and context takes exactly as long as one replica's
    iteration: the fleet with its load perfectly balanced at every iteration and programs moving
    between replicas for free. It is optimistic beyond that: a lone call reads its KV at n times
    the bandwidth, and pooled prefill pays the weight reads once. A bound only while KV does not
    bind: with KV short, one scheduler over the pooled cache admits programs differently from N
    (docs/replicas.md). Raises ConfigError for num_replicas < 1."""
    if num_replicas < 1:
        raise ConfigError(f"a pooled profile needs num_replicas >= 1, got {num_replicas}")
    p, n = get_profile(profile), num_replicas
    weight_read_s = p.model.weight_bytes / p.num_gpus / (p.gpu.memory_bandwidth * p.memory_efficiency)
    gpu = replace(p.gpu, name=f"{n}x {p.gpu.name}", memory_bytes=n * p.gpu.memory_bytes,
                  memory_bandwidth=n * p.gpu.memory_bandwidth, peak_flops=n * p.gpu.peak_flops,
                  link_bandwidth=n * p.gpu.link_bandwidth, host_bandwidth=n * p.gpu.host_bandwidth)
    return replace(p, name=f"{p.name}-pooled-{n}", gpu=gpu, max_num_batched_tokens=n * p.max_num_batched_tokens,
                   max_num_seqs=n * p.max_num_seqs,
                   non_kv_bytes_per_gpu=n * p.non_kv_bytes_per_gpu + (n - 1) * p.model.weight_bytes // p.num_gpus,
                   overhead_s=p.overhead_s + (n - 1) / n * weight_read_s)


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
