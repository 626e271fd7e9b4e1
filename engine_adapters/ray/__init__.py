"""Engine replicas hosted by Ray: each engine (the simulator on the wall clock, or vLLM with the
agentrt plugin) runs in a Ray actor; the router runs in front, in the driver's runtime.

    engine = ray_replicas(2, "sim", router="agentrt")            # starts a local Ray instance
    engine = ray_replicas(4, "vllm", model="DIR", address="auto")  # joins a running cluster

The only module that imports ray (`pip install 'agentrt[ray]'`).
"""

from agentrt.engine_adapters.ray.cluster import ray_replicas
from agentrt.engine_adapters.ray.engine import RayEngine
from agentrt.engine_adapters.ray.host import EngineHost

__all__ = ["EngineHost", "RayEngine", "ray_replicas"]
