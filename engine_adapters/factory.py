"""`create_engine`: build an engine by name, importing only that engine's module (only the vLLM
adapter imports vllm). Engines that hold anyio primitives must be built inside the event loop."""

from __future__ import annotations

from typing import Any

from agentrt.engine_adapters.base import Engine
from agentrt.exceptions import ConfigError, UnknownNameError

ENGINES = ("sim", "vllm")


def create_engine(kind: str = "sim", *, profile: str | None = None, model: str | None = None, replicas: int = 1,
                  router: str = "agentrt", **options: Any) -> Engine:
    """`sim` (profile: a simulator profile name) or `vllm` (model: a model folder); `replicas` > 1
    puts that many behind `router` (`agentrt.engine_adapters.replicas`; simulated replicas share
    one virtual clock).

    Raises UnknownNameError for an unknown kind or router, ConfigError when vllm gets no model."""
    if replicas != 1:
        return _replicate(kind, replicas, router, profile=profile, model=model, **options)
    if kind == "sim":
        from agentrt.engine_adapters.sim import DEFAULT_PROFILE, SimEngine

        return SimEngine(profile or DEFAULT_PROFILE, **options)
    if kind == "vllm":
        if not model:
            raise ConfigError("--engine vllm needs --model DIR (a Hugging Face model folder; "
                              "`agentrt model tiny DIR` writes a tiny test model)")
        from agentrt.engine_adapters.vllm import VLLMEngine

        return VLLMEngine(model=model, **options)
    raise UnknownNameError("engine", kind, ENGINES)


def _replicate(kind: str, num_replicas: int, router: str, **options: Any) -> Engine:
    if num_replicas < 1:
        raise ConfigError(f"--replicas must be >= 1, got {num_replicas}")
    if kind == "sim":
        from agentrt.engine_adapters.sim.replicas import sim_replicas

        options.pop("model", None)
        return sim_replicas(num_replicas, router, **options)
    from agentrt.engine_adapters.replicas import ReplicatedEngine

    return ReplicatedEngine([create_engine(kind, **options) for _ in range(num_replicas)], router)


def uses_virtual_time(kind: str) -> bool:
    """Simulated engines (`sim`, and the `recording` test engine) run on virtual time (trio +
    MockClock); a real engine (`vllm`) on asyncio and the wall clock. The one definition: the
    CLI's `--engine` choices use it too (agentrt/engines.py)."""
    return kind != "vllm"
