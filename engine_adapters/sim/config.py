"""`SimConfig`: the simulator's user-facing settings (pydantic). Unset fields take the profile's
value, which follows vLLM's defaults for that GPU (see profiles.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentrt.exceptions import ConfigError


class SimConfig(BaseModel):
    """Simulator settings. Invalid values raise ConfigError naming the value and the allowed range."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_gpu_blocks: int | None = Field(
        None, ge=1,
        description="KV cache size in blocks, overriding the one computed from GPU memory "
                    "(vLLM --num-gpu-blocks-override). Default: from the profile.")
    gpu_memory_utilization: float | None = Field(
        None, gt=0, le=1,
        description="Fraction of GPU memory vLLM may use (weights + activations + KV). "
                    "Default: the profile's, 0.9 (vLLM default).")
    block_size: int | None = Field(
        None, ge=1, le=1024,
        description="Tokens per KV block. Default: the profile's, 16 (vLLM default on CUDA).")
    max_num_batched_tokens: int | None = Field(
        None, ge=1,
        description="Token budget of one iteration (chunked prefill). Default: the profile's "
                    "(vLLM's default for that GPU: 8192 on H100, 2048 on A100).")
    max_num_seqs: int | None = Field(
        None, ge=1,
        description="Most sequences in one batch. Default: the profile's (vLLM: 1024 on H100, 256 on A100).")
    max_model_len: int | None = Field(
        None, ge=1,
        description="Context length: prompt + max_tokens of a call. Default: the model's "
                    "max_position_embeddings (vLLM default).")
    preemption_mode: Literal["recompute", "swap"] = Field(
        "recompute",
        description="What a preempted call loses: 'recompute' frees its KV and prefills again (vLLM v1); "
                    "'swap' copies it to host memory over PCIe and back (vLLM v0, InferCept, Autellix), "
                    "falling back to recompute when swap space is full.")
    swap_space_gib: float = Field(
        4.0, ge=0,
        description="Host memory for swapped KV, GiB per GPU. Default 4 (vLLM v0 --swap-space).")
    host_kv_gib: float = Field(
        0.0, ge=0,
        description="Host memory for a KV tier, GiB per GPU (issue 15; engine_adapters/sim/host_tier.py): "
                    "every computed block is also written to host memory, and a program's context "
                    "evicted from the GPU (during a tool call, or by a preemption) is loaded back over "
                    "PCIe instead of prefilled again, as vLLM's CPU KV offloading (--kv-offloading-size) "
                    "and InferCept. Default 0: no tier, as vLLM by default.")
    fast_forward: bool = Field(
        True,
        description="Run a stretch of decode-only iterations (same batch, nothing waiting, nothing "
                    "arriving before it ends) as one step of the loop, with the same results; False "
                    "runs every iteration as a step (for checking).")
    record_iterations: int = Field(
        10_000, ge=0,
        description="Keep the last N per-iteration records in statistics(); 0 keeps none. A "
                    "fast-forwarded decode span is one record.")
    record_decisions: bool = Field(
        False,
        description="Log every scheduling decision in order (`SimEngine.decisions()`; "
                    "runtime/scheduling/decisions.py), as the vLLM plugin does with the same option.")
    seed: int = Field(
        0,
        description="Seeds the identity of generated tokens: the same seed and workload give the same run.")

    @classmethod
    def build(cls, base: SimConfig | None, options: dict[str, Any]) -> SimConfig:
        """`base` with `options` applied. Raises ConfigError for unknown keys or bad values."""
        unknown = sorted(set(options) - set(cls.model_fields))
        if unknown:
            raise ConfigError(f"unknown SimEngine option(s) {', '.join(unknown)}; valid options: "
                              f"{', '.join(cls.model_fields)}")
        data = (base.model_dump(exclude_unset=True) if base else {}) | options
        try:
            return cls(**data)
        except ValidationError as exc:
            raise ConfigError(f"invalid SimEngine option: {exc}") from exc
