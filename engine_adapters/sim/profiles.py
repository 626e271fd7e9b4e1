"""Hardware/model profiles: what the simulator knows about a model on some GPUs.

A `Profile` is a model (`ModelSpec`, from its Hugging Face config.json), a GPU (`GPUSpec`, from
the vendor datasheet), a tensor-parallel degree, the serving defaults vLLM picks for that GPU, and
the cost model's fitted factors (efficiencies and per-iteration overhead). The factors below are
estimates until `calibrate` replaces them with a fit to measured steps; every other constant is
sourced next to it.

KV capacity follows vLLM's memory profiling (`Worker.determine_available_memory`): per GPU,
`total * gpu_memory_utilization - weights - activations/non-torch memory`, divided by the bytes one
block of `block_size` tokens takes on one GPU (tensor parallelism splits the KV heads).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from agentrt.exceptions import ConfigError, EngineError, UnknownNameError

GiB = 1 << 30
MiB = 1 << 20

# vLLM defaults (vllm/config: CacheConfig, EngineArgs).
DEFAULT_BLOCK_SIZE = 16  # CacheConfig.block_size default on CUDA
DEFAULT_GPU_MEMORY_UTILIZATION = 0.9  # CacheConfig.gpu_memory_utilization default


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A decoder-only transformer (Llama architecture), as its config.json describes it."""

    name: str
    num_layers: int
    hidden_size: int
    intermediate_size: int
    num_heads: int
    num_kv_heads: int
    vocab_size: int
    max_model_len: int  # max_position_embeddings: vLLM's default max_model_len
    dtype_bytes: int = 2  # torch_dtype bfloat16
    tie_word_embeddings: bool = False

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def num_layer_params(self) -> int:
        """Parameters of one decoder layer: attention q,k,v,o + gated MLP + two RMSNorms."""
        h, kv = self.hidden_size, self.num_kv_heads * self.head_dim
        return 2 * h * h + 2 * h * kv + 3 * h * self.intermediate_size + 2 * h

    @property
    def num_params(self) -> int:
        embeddings = self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)
        return self.num_layers * self.num_layer_params + embeddings + self.hidden_size

    @property
    def num_matmul_params(self) -> int:
        """Parameters multiplied per token: all but the input embedding (a lookup). The LM head is
        counted for every token although vLLM computes logits only for sampled positions; the
        compute efficiency absorbs the difference (about 6% of prefill FLOPs for Llama-3.1-8B)."""
        return self.num_layers * self.num_layer_params + self.vocab_size * self.hidden_size

    @property
    def weight_bytes(self) -> int:
        return self.num_params * self.dtype_bytes

    @property
    def kv_bytes_per_token(self) -> int:
        """K and V for every layer and KV head."""
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * self.dtype_bytes


@dataclass(frozen=True, slots=True)
class GPUSpec:
    name: str
    memory_bytes: int  # total device memory as CUDA reports it (nvidia-smi "Total")
    memory_bandwidth: float  # bytes/s, datasheet peak
    peak_flops: float  # dense BF16 tensor-core FLOP/s, datasheet (without sparsity)
    link_bandwidth: float  # bytes/s per direction between GPUs (NVLink), datasheet / 2
    host_bandwidth: float  # bytes/s per direction to host memory (PCIe), for swapping


@dataclass(frozen=True, slots=True)
class Profile:
    """A model served on `num_gpus` GPUs with tensor parallelism, plus the cost model's factors.

    Raises ConfigError from the constructor for values out of range."""

    name: str
    model: ModelSpec
    gpu: GPUSpec
    num_gpus: int
    max_num_batched_tokens: int
    max_num_seqs: int
    non_kv_bytes_per_gpu: int  # peak activations + non-torch memory from vLLM's profiling run
    memory_efficiency: float  # achieved / peak memory bandwidth
    compute_efficiency: float  # achieved / peak FLOP/s
    overhead_s: float  # fixed cost per iteration: scheduling, sampling, launch gaps
    allreduce_latency_s: float = 0.0  # fixed cost per all-reduce (tensor parallel only)
    gpu_memory_utilization: float = DEFAULT_GPU_MEMORY_UTILIZATION
    block_size: int = DEFAULT_BLOCK_SIZE
    # Attention pairs run at compute_efficiency x this: below 1 where the attention kernel is
    # slower per FLOP than the matmuls (vLLM's CPU paged attention: ~0.35, docs/vllm.md).
    attention_efficiency: float = 1.0
    # Fixed cost per request that prefills in the iteration, beyond its tokens: on vLLM's CPU
    # engine with the bench model `calibrate` fits 8.3 ms (docs/vllm.md, session 5; building its inputs
    # and attention metadata, a logits row), which a step with
    # several short prefills pays several times (benchmarks/vllm_cpu_residuals.py). 0: none.
    overhead_per_prefill_s: float = 0.0

    def __post_init__(self) -> None:
        _check(self.name, "num_gpus", self.num_gpus, 1, 1024)
        _check(self.name, "max_num_batched_tokens", self.max_num_batched_tokens, 1, 1 << 24)
        _check(self.name, "max_num_seqs", self.max_num_seqs, 1, 1 << 20)
        _check(self.name, "memory_efficiency", self.memory_efficiency, 1e-6, 1.0)
        _check(self.name, "compute_efficiency", self.compute_efficiency, 1e-6, 1.0)
        _check(self.name, "overhead_s", self.overhead_s, 0.0, 10.0)
        _check(self.name, "overhead_per_prefill_s", self.overhead_per_prefill_s, 0.0, 10.0)
        _check(self.name, "attention_efficiency", self.attention_efficiency, 1e-6, 1.0)
        _check(self.name, "allreduce_latency_s", self.allreduce_latency_s, 0.0, 1.0)
        _check(self.name, "gpu_memory_utilization", self.gpu_memory_utilization, 1e-3, 1.0)
        _check(self.name, "block_size", self.block_size, 1, 1 << 16)
        if self.model.num_kv_heads % self.num_gpus and self.num_gpus % self.model.num_kv_heads:
            raise ConfigError(f"profile {self.name!r}: num_gpus={self.num_gpus} must divide or be a "
                              f"multiple of num_kv_heads={self.model.num_kv_heads} (tensor parallelism)")

    @property
    def kv_bytes_per_token_per_gpu(self) -> float:
        """KV heads are split across GPUs (replicated when there are more GPUs than KV heads)."""
        return self.model.kv_bytes_per_token / min(self.num_gpus, self.model.num_kv_heads)

    def num_kv_blocks(self, gpu_memory_utilization: float | None = None, block_size: int | None = None) -> int:
        """KV blocks that fit, as vLLM computes them. Raises EngineError if the weights do not fit."""
        util = self.gpu_memory_utilization if gpu_memory_utilization is None else gpu_memory_utilization
        size = self.block_size if block_size is None else block_size
        budget = self.gpu.memory_bytes * util - self.model.weight_bytes / self.num_gpus - self.non_kv_bytes_per_gpu
        blocks = int(budget // (size * self.kv_bytes_per_token_per_gpu))
        if blocks <= 0:
            raise EngineError(f"profile {self.name!r}: the weights ({self.model.weight_bytes / self.num_gpus / GiB:.1f} "
                              f"GiB per GPU) leave no KV memory at gpu_memory_utilization={util}; raise it or "
                              f"use more GPUs")
        return blocks

    def with_factors(self, *, memory_efficiency: float, compute_efficiency: float, overhead_s: float,
                     attention_efficiency: float | None = None, overhead_per_prefill_s: float | None = None,
                     name: str | None = None) -> Profile:
        """A copy with new cost-model factors (what `calibrate` returns); attention_efficiency and
        overhead_per_prefill_s None: kept."""
        return replace(self, memory_efficiency=memory_efficiency, compute_efficiency=compute_efficiency,
                       overhead_s=overhead_s, name=name or self.name,
                       attention_efficiency=self.attention_efficiency if attention_efficiency is None
                       else attention_efficiency,
                       overhead_per_prefill_s=self.overhead_per_prefill_s if overhead_per_prefill_s is None
                       else overhead_per_prefill_s)


def _check(profile: str, field: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"profile {profile!r}: {field}={value!r} is out of range [{low}, {high}]")


# -- models: Hugging Face config.json of meta-llama/Llama-3.1-{8B,70B}-Instruct -------------------
LLAMA_3_1_8B = ModelSpec(
    name="meta-llama/Llama-3.1-8B-Instruct", num_layers=32, hidden_size=4096, intermediate_size=14336,
    num_heads=32, num_kv_heads=8, vocab_size=128256, max_model_len=131072)  # 8.03B params
LLAMA_3_1_70B = ModelSpec(
    name="meta-llama/Llama-3.1-70B-Instruct", num_layers=80, hidden_size=8192, intermediate_size=28672,
    num_heads=64, num_kv_heads=8, vocab_size=128256, max_model_len=131072)  # 70.6B params

# -- GPUs: NVIDIA datasheets; memory totals as nvidia-smi reports them ----------------------------
H100_SXM = GPUSpec(
    name="H100-SXM5-80GB",
    memory_bytes=81559 * MiB,  # nvidia-smi "81559MiB" (80 GB HBM3)
    memory_bandwidth=3.35e12,  # H100 SXM datasheet: 3.35 TB/s
    peak_flops=989.4e12,  # H100 SXM datasheet: 1,979 TFLOPS BF16 with sparsity, half dense
    link_bandwidth=450e9,  # NVLink 4: 900 GB/s bidirectional per GPU
    host_bandwidth=64e9,  # PCIe Gen5 x16: 128 GB/s bidirectional
)
A100_80GB = GPUSpec(
    name="A100-SXM4-80GB",
    memory_bytes=81920 * MiB,  # nvidia-smi "81920MiB" (80 GB HBM2e)
    memory_bandwidth=2.039e12,  # A100 datasheet: 2,039 GB/s (80GB SXM)
    peak_flops=312e12,  # A100 datasheet: 312 TFLOPS BF16 dense (624 with sparsity)
    link_bandwidth=300e9,  # NVLink 3: 600 GB/s bidirectional per GPU
    host_bandwidth=32e9,  # PCIe Gen4 x16: 64 GB/s bidirectional
)

# Factors: uncalibrated estimates; `calibrate` fits them to a real engine's step times.
# memory_efficiency 0.8: decode of Llama-3.1-8B at batch 1 then costs 6.0 ms of weight reads on an
#   H100 (+1 ms overhead: about the 7 ms per output token vLLM reports there).
# compute_efficiency 0.6: large-GEMM MFU of BF16 prefill on Hopper/Ampere.
# non_kv 2 GiB per GPU: peak activations for 8192 batched tokens and the sampler's dummy batch plus
#   CUDA context/NCCL buffers, the order of what vLLM's memory profiling logs for these models.
PROFILES: dict[str, Profile] = {
    p.name: p for p in (
        Profile(name="llama-3.1-8b-h100", model=LLAMA_3_1_8B, gpu=H100_SXM, num_gpus=1,
                max_num_batched_tokens=8192, max_num_seqs=1024,  # vLLM EngineArgs.get_batch_defaults,
                # OPENAI_API_SERVER context, on GPUs with >= 70 GiB that are not A100
                non_kv_bytes_per_gpu=2 * GiB, memory_efficiency=0.8, compute_efficiency=0.6, overhead_s=1e-3),
        Profile(name="llama-3.1-8b-a100-80gb", model=LLAMA_3_1_8B, gpu=A100_80GB, num_gpus=1,
                max_num_batched_tokens=2048, max_num_seqs=256,  # vLLM get_batch_defaults: A100, OPENAI_API_SERVER
                non_kv_bytes_per_gpu=2 * GiB, memory_efficiency=0.8, compute_efficiency=0.6, overhead_s=1e-3),
        Profile(name="llama-3.1-70b-4xh100", model=LLAMA_3_1_70B, gpu=H100_SXM, num_gpus=4,
                max_num_batched_tokens=8192, max_num_seqs=1024,  # as the 8B/H100 profile
                non_kv_bytes_per_gpu=3 * GiB,  # + NCCL / custom all-reduce buffers
                memory_efficiency=0.8, compute_efficiency=0.6,
                overhead_s=2e-3,  # + cross-GPU synchronization of the scheduler output
                allreduce_latency_s=8e-6),  # small-message all-reduce on NVLink (vLLM custom all-reduce)
    )
}
DEFAULT_PROFILE = "llama-3.1-8b-h100"


def get_profile(name: str | Profile) -> Profile:
    """The named profile (a `Profile` is returned as is). Raises UnknownNameError listing the names."""
    if isinstance(name, Profile):
        return name
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownNameError("profile", name, sorted(PROFILES)) from None
