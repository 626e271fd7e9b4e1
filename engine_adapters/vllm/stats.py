"""`VLLMStats`: what the vLLM adapter reports (frozen: a snapshot, not live counters)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VLLMStats:
    """Counters of one engine since it started.

    The adapter counts calls and tokens; the scheduler counts blocks, steps and preemptions, and
    the plugin pins (in stock mode those stay 0), as of the last control message or the engine's stop.
    num_prefix_hit_tokens: prompt tokens served from the prefix cache (vLLM's num_cached_tokens).
    num_pinned_blocks: blocks pinned now, including those handed to a program's next call.
    num_pin_hits: calls admitted while their program's KV was still pinned.
    num_held: calls held out of vLLM's waiting queue by residency gating (agentrt), now.
    num_waiting, num_running: calls the plugin knows as waiting (held ones included) and running, now.
    scheduler_cls: the class vLLM runs (AgentScheduler, or AgentAsyncScheduler with async scheduling;
    stock: StockScheduler or StockAsyncScheduler).
    num_threads: the engine core's torch (OpenMP) threads (`VLLMOptions.omp_num_threads`).
    """

    model: str
    policy: str
    stock: bool
    num_calls: int = 0
    num_finished: int = 0
    num_aborted: int = 0
    num_failed: int = 0
    num_rejected: int = 0
    num_prompt_tokens: int = 0
    num_prefix_hit_tokens: int = 0
    num_output_tokens: int = 0
    num_gpu_blocks: int = 0
    num_free_blocks: int = 0
    num_pinned_blocks: int = 0
    num_pins: int = 0
    num_pins_created: int = 0
    num_pin_hits: int = 0
    num_pin_expiries: int = 0
    num_pins_released: int = 0
    num_preemptions: int = 0
    num_promotions: int = 0
    num_steps: int = 0
    busy_time: float = 0.0
    num_held: int = 0
    num_waiting: int = 0
    num_running: int = 0
    scheduler_cls: str = ""
    num_threads: int = 0
