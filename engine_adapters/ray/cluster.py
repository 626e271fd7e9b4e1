"""`ray_replicas`: start N engine actors on Ray and put them behind a router.

Why plain actors rather than Ray Serve: Serve's custom request router (`RequestRouter`) picks a
replica per request of one deployment, but agentrt's runtime also sends each call's abort, each
program's end and tool hints to the replica that holds them, and keeps the routing state (program
placement, attained service) across calls; Serve's LLM deployments wrap vLLM's OpenAI server, not
an engine with agentrt's scheduler plugin. A Ray actor per engine gives the placement, process
isolation, multi-machine scheduling and failure detection Ray is for, and the router stays the
same pure component the simulator uses. Ray Serve also pulls in the web stack (`ray[serve]`).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import ray

from agentrt.engine_adapters.ray.engine import RayEngine, remote_host
from agentrt.engine_adapters.replicas import ReplicatedEngine
from agentrt.exceptions import ConfigError

NAMESPACE_PREFIX = "agentrt-"


def ray_replicas(num_replicas: int, kind: str = "sim", router: str = "agentrt", *, address: str | None = None,
                 num_cpus_per_replica: float = 0, namespace: str | None = None, **options: Any) -> ReplicatedEngine:
    """`num_replicas` engines `create_engine(kind, **options)`, each in a Ray actor, behind `router`.

    address: a Ray cluster to join (`ray start --head` prints it; default $RAY_ADDRESS, else a
    local Ray instance is started). Replicas of a simulator run on the wall clock. The actors are
    named `replica-0`, `replica-1`, ... in `namespace` (default: a fresh `agentrt-XXXXXXXX`), so
    an operator can find one (`ray.get_actor("replica-1", namespace=...)`); they end with this
    process. Call inside the event loop (asyncio). Raises ConfigError for num_replicas < 1, and
    what the engine raises for bad options (EngineError for a missing model folder)."""
    if num_replicas < 1:
        raise ConfigError(f"--replicas must be >= 1, got {num_replicas}")
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False)
    namespace = namespace or f"{NAMESPACE_PREFIX}{uuid.uuid4().hex[:8]}"
    host = remote_host()
    actors = [host.options(num_cpus=num_cpus_per_replica, name=f"replica-{i}", namespace=namespace).remote(kind, options)
              for i in range(num_replicas)]
    capacities = ray.get([a.describe.remote() for a in actors])
    engines = [RayEngine(a, cap, label=f"replica {i}") for i, (a, cap) in enumerate(zip(actors, capacities))]
    config = None
    if kind == "sim":
        from agentrt.engine_adapters.sim.replicas import router_config

        config = router_config(options.get("profile") or "llama-3.1-8b-h100")
    return ReplicatedEngine(engines, router, config=config, kv_capacity_tokens=capacities)
