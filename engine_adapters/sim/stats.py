"""Simulator statistics: frozen snapshots (`SimStats`, `IterationRecord`) of mutable counters.

Totals are plain integer counters bumped in the engine loop; the scheduling counts (pins,
preemptions) are the scheduler's own (`SchedulerStats`), not counted again here. Per-iteration records are kept in a
bounded ring (the last `record_iterations` records, 0 to keep none): a SWE-bench replay runs
~10^6 iterations and most analyses want the recent window or none. A decode span (`span.py`) is
one record.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields

from agentrt.runtime.scheduling import SchedulerStats


@dataclass(frozen=True, slots=True)
class IterationRecord:
    """One engine iteration, or a decode span of `num_iterations` iterations of one batch run as
    one step (see `span.py`): then `duration` and the token counts are the span's sums, the rest
    is as of its last iteration. `kv_usage` is the fraction of blocks referenced after scheduling."""

    start: float
    duration: float
    batch_size: int
    num_prefill_tokens: int
    num_decode_tokens: int
    num_waiting: int
    kv_usage: float
    num_pinned_blocks: int
    num_preemptions: int
    num_iterations: int = 1


@dataclass(slots=True)
class Counters:
    """Running totals (mutable; `SimEngine.statistics()` snapshots them)."""

    num_iterations: int = 0
    busy_time: float = 0.0  # summed iteration durations
    num_calls: int = 0  # calls accepted
    num_finished: int = 0
    num_aborted: int = 0
    num_rejected: int = 0  # PromptTooLongError
    num_prompt_tokens: int = 0
    num_prefix_hit_tokens: int = 0  # prompt tokens found in the prefix cache at first admission
    num_prefill_tokens: int = 0  # tokens computed in prefill steps (recomputation included)
    num_decode_tokens: int = 0
    num_recomputed_tokens: int = 0  # tokens of a call computed again after its preemption
    num_reprefilled_tokens: int = 0  # a program's context evicted between its calls, prefilled again
    num_swap_outs: int = 0
    num_swapped_tokens: int = 0  # tokens copied back from host memory instead of recomputed
    num_evicted_blocks: int = 0
    max_batch_size: int = 0
    max_kv_usage: float = 0.0


@dataclass(frozen=True, slots=True)
class SimStats:
    """Totals since `start()`, the cache geometry, and the recorded iterations (oldest first)."""

    profile: str
    num_blocks: int
    block_size: int
    num_iterations: int
    busy_time: float
    num_calls: int
    num_finished: int
    num_aborted: int
    num_rejected: int
    num_prompt_tokens: int
    num_prefix_hit_tokens: int
    num_prefill_tokens: int
    num_decode_tokens: int
    num_recomputed_tokens: int
    num_reprefilled_tokens: int
    num_preemptions: int
    num_swap_outs: int
    num_swapped_tokens: int
    num_evicted_blocks: int
    num_pins: int
    num_pin_hits: int
    num_pin_expiries: int
    num_pin_releases: int
    max_batch_size: int
    max_kv_usage: float
    num_pinned_blocks: int  # now
    num_used_blocks: int  # now
    iterations: tuple[IterationRecord, ...]
    num_gated_programs: int = 0  # now: programs held back by residency gating

    @property
    def prefix_hit_rate(self) -> float:
        return self.num_prefix_hit_tokens / self.num_prompt_tokens if self.num_prompt_tokens else 0.0


_COUNTER_FIELDS = tuple(f.name for f in fields(Counters))


def snapshot(counters: Counters, scheduler: SchedulerStats | None, records: deque[IterationRecord], *,
             profile: str, num_blocks: int, block_size: int, num_pinned_blocks: int,
             num_used_blocks: int) -> SimStats:
    totals = {name: getattr(counters, name) for name in _COUNTER_FIELDS}
    s = scheduler
    return SimStats(profile=profile, num_blocks=num_blocks, block_size=block_size,
                    num_pinned_blocks=num_pinned_blocks, num_used_blocks=num_used_blocks,
                    iterations=tuple(records), num_preemptions=s.num_preemptions if s else 0,
                    num_pins=s.num_pins_created if s else 0, num_pin_hits=s.num_pin_hits if s else 0,
                    num_pin_expiries=s.num_pins_expired if s else 0,
                    num_pin_releases=s.num_pins_released if s else 0,
                    num_gated_programs=s.num_gated_programs if s else 0, **totals)
