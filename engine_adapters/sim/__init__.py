"""The simulated engine: a discrete-event model of a continuous-batching GPU engine (vLLM v1
semantics: paged KV, prefix caching, chunked prefill, preemption) under virtual time.

    engine = SimEngine()                      # Llama-3.1-8B on one H100
    engine = SimEngine("llama-3.1-70b-4xh100", num_gpu_blocks=4096)

Modules: `profiles` (models, GPUs, vLLM defaults, KV capacity), `cost_model` (roofline iteration
time), `calibrate` (fit the cost model to measured steps), `kv_cache` (blocks, prefix cache, LRU,
pins), `sequence` (one call), `batcher` (one scheduling pass), `engine` (the loop and the engine
protocol), `stats` (frozen statistics), `config` (options).
"""

from agentrt.engine_adapters.sim.calibrate import FitError, MeasuredStep, calibrate, fit_error
from agentrt.engine_adapters.sim.config import SimConfig
from agentrt.engine_adapters.sim.cost_model import CostModel
from agentrt.engine_adapters.sim.engine import Responder, SimEngine
from agentrt.engine_adapters.sim.profiles import (
    DEFAULT_PROFILE,
    PROFILES,
    GPUSpec,
    ModelSpec,
    Profile,
    get_profile,
)
from agentrt.engine_adapters.sim.stats import IterationRecord, SimStats

__all__ = [
    "DEFAULT_PROFILE", "PROFILES", "CostModel", "FitError", "GPUSpec", "IterationRecord", "MeasuredStep",
    "ModelSpec", "Profile", "Responder", "SimConfig", "SimEngine", "SimStats", "calibrate", "fit_error",
    "get_profile",
]
