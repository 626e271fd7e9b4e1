"""`create_engine`: build an engine by name, importing only that engine's module (only the vLLM
adapter imports vllm). Engines that hold anyio primitives must be built inside the event loop."""

from __future__ import annotations

from typing import Any

from agentrt.engine_adapters.base import Engine
from agentrt.exceptions import ConfigError, UnknownNameError

ENGINES = ("sim", "vllm")


def create_engine(kind: str = "sim", *, profile: str | None = None, model: str | None = None, **options: Any) -> Engine:
    """`sim` (profile: a simulator profile name) or `vllm` (model: a model folder).

    Raises UnknownNameError for an unknown kind, ConfigError when vllm gets no model."""
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


def uses_virtual_time(kind: str) -> bool:
    """Simulated engines (`sim`, and the `recording` test engine) run on virtual time (trio +
    MockClock); a real engine (`vllm`) on asyncio and the wall clock. The one definition: the
    CLI's `--engine` choices use it too (agentrt/submit/engines.py)."""
    return kind != "vllm"
