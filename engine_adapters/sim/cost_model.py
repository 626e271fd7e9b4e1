"""`CostModel`: the duration of one engine iteration, from a roofline of the model on the GPUs.

    time = overhead + prefilling requests x overhead per prefill
           + max(memory time, compute time) + all-reduce time
    memory time  = (weights + KV read + KV written) / (bandwidth * memory_efficiency)
    compute time = 2 * matmul params * tokens / (peak FLOP/s * compute_efficiency)
                   + 4 * layers * heads * head_dim * attention pairs
                     / (peak FLOP/s * compute_efficiency * attention_efficiency)
    all-reduce   = 2 per layer (tensor parallel only): latency + ring traffic over NVLink

all per GPU (tensor parallelism splits weights, KV heads and FLOPs). An iteration is described by
four counts: prefill tokens, decode tokens, context tokens read (each scheduled sequence's KV
length after the step, summed) and attention pairs (query-key pairs the step computes), and a fifth
for the per-request term: how many of its sequences prefill (0 unless the profile prices them).

Alternatives considered: a sum of the memory and compute terms (linear, trivial to fit, but counts
weight reads twice in mixed batches) and per-operator tables measured on the GPU (Vidur; exact, but
needs the GPU for every new model). The roofline with three fitted factors transfers across models
and is fitted by `calibrate` from a few hundred measured steps.
"""

from __future__ import annotations

from agentrt.engine_adapters.kv import chunk_pairs
from agentrt.engine_adapters.sim.profiles import Profile

__all__ = ["CostModel", "chunk_pairs"]


class CostModel:
    """Iteration times for one `Profile`. Pure arithmetic; every method is O(1) or O(chunks)."""

    __slots__ = ("profile", "_weights", "_kv_token", "_token_flops", "_pair_flops", "_comm_token",
                 "_comm_fixed", "_overhead", "_per_prefill", "_swap_token")

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        m, g, tp = profile.model, profile.gpu, profile.num_gpus
        bandwidth = g.memory_bandwidth * profile.memory_efficiency
        flops = g.peak_flops * profile.compute_efficiency
        self._weights = m.weight_bytes / tp / bandwidth
        self._kv_token = profile.kv_bytes_per_token_per_gpu / bandwidth
        self._token_flops = 2 * m.num_matmul_params / tp / flops
        self._pair_flops = 4 * m.num_layers * m.num_heads * m.head_dim / tp / (flops * profile.attention_efficiency)
        num_allreduce = 2 * m.num_layers if tp > 1 else 0
        ring = 2 * (tp - 1) / tp  # bytes each GPU sends per byte reduced, ring all-reduce
        self._comm_token = num_allreduce * m.hidden_size * m.dtype_bytes * ring / g.link_bandwidth
        self._comm_fixed = num_allreduce * profile.allreduce_latency_s
        self._overhead = profile.overhead_s
        self._per_prefill = profile.overhead_per_prefill_s
        self._swap_token = profile.kv_bytes_per_token_per_gpu / g.host_bandwidth

    # -- one iteration ---------------------------------------------------------------------------
    def memory_time(self, num_tokens: int, num_context_tokens: int) -> float:
        return self._weights + (num_context_tokens + num_tokens) * self._kv_token

    def compute_time(self, num_tokens: int, num_attention_pairs: int) -> float:
        return num_tokens * self._token_flops + num_attention_pairs * self._pair_flops

    def comm_time(self, num_tokens: int) -> float:
        return self._comm_fixed + num_tokens * self._comm_token

    def iteration_time(self, num_prefill_tokens: int, num_decode_tokens: int, num_context_tokens: int,
                       num_attention_pairs: int, num_prefill_seqs: int = 0) -> float:
        """Seconds for one iteration; 0 for an empty one. `num_prefill_seqs`: its sequences that
        prefill (a chunk each), each adding the profile's overhead_per_prefill_s."""
        tokens = num_prefill_tokens + num_decode_tokens
        if tokens == 0:
            return 0.0
        memory = self._weights + (num_context_tokens + tokens) * self._kv_token
        compute = tokens * self._token_flops + num_attention_pairs * self._pair_flops
        return (self._overhead + num_prefill_seqs * self._per_prefill + (memory if memory > compute else compute)
                + self._comm_fixed + tokens * self._comm_token)

    def decode_steps(self, num_seqs: int, num_context: int, start: float, max_steps: int,
                     stop: float) -> tuple[list[float], list[float]]:
        """Durations and end times of consecutive decode iterations of `num_seqs` sequences whose
        KV holds `num_context` tokens in all before the first (each step adds `num_seqs`), from
        `start`: at most `max_steps`, none starting at or after `stop`. Each duration is bitwise
        `iteration_time(0, num_seqs, context, context)` (the same operations, hoisted), each end
        the previous end plus it (as the engine loop adds them)."""
        n, ctx, end = num_seqs, num_context, start
        weights, kv_token, pair_flops = self._weights, self._kv_token, self._pair_flops
        overhead, comm_fixed = self._overhead, self._comm_fixed
        token_flops, comm_tokens = n * self._token_flops, n * self._comm_token
        durations: list[float] = []
        ends: list[float] = []
        while len(ends) < max_steps and end < stop:
            ctx += n
            memory = weights + (ctx + n) * kv_token
            compute = token_flops + ctx * pair_flops
            duration = overhead + (memory if memory > compute else compute) + comm_fixed + comm_tokens
            end += duration
            durations.append(duration)
            ends.append(end)
        return durations, ends

    def swap_time(self, num_tokens: int) -> float:
        """Seconds to copy `num_tokens` tokens of KV between GPU and host (each GPU its shard)."""
        return num_tokens * self._swap_token

    # -- one sequence alone ----------------------------------------------------------------------
    def prefill_time(self, num_tokens: int, num_cached: int = 0, budget: int | None = None) -> float:
        """Seconds to prefill tokens [num_cached, num_tokens) alone, in chunks of `budget` tokens
        (default: the profile's max_num_batched_tokens)."""
        budget = budget or self.profile.max_num_batched_tokens
        total, done = 0.0, num_cached
        while done < num_tokens:
            n = min(budget, num_tokens - done)
            total += self.iteration_time(n, 0, done + n, chunk_pairs(done, n), 1)
            done += n
        return total

    def decode_time(self, num_context: int, num_steps: int) -> float:
        """Seconds for `num_steps` decode steps of one sequence whose KV holds `num_context` tokens
        before the first step."""
        total = 0.0
        for i in range(num_steps):
            ctx = num_context + i + 1
            total += self.iteration_time(0, 1, ctx, ctx)
        return total

    def lone_call_time(self, num_prompt_tokens: int, num_output_tokens: int, num_cached: int = 0) -> float:
        """Latency of a call alone on the engine: the prefill (whose last chunk samples the first
        output token), then one decode step per further output token."""
        return (self.prefill_time(num_prompt_tokens, num_cached)
                + self.decode_time(num_prompt_tokens, max(num_output_tokens - 1, 0)))
