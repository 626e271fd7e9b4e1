"""The simulator with the measured step-time noise: how benchmarks/vllm_cpu.py compares its counts.

Why. On the benchmark's memory-bound workload a count can hang on a race a few milliseconds wide:
in session 6's two calibrations (docs/vllm.md, "Session 7") the first program's fifth call
arrives 3-26 ms before or after the fifth program's first, and whichever comes first keeps or
loses ten cached blocks (320 prefix-hit tokens). The real engine lands on one side in 9 of 10
stock and fcfs runs and on the other in 1; the simulator, deterministic, lands on one side for
good, and a few per cent of calibration difference (the fitted per-request term moved from 11.9
to 9.9 ms between the two files) decides which. A count compared as one deterministic replay
against the real median then says how close the calibration put the simulator to the edge, not
whether it models the engine.

What. `NoisySimEngine` multiplies each simulated step's duration by a measured/predicted ratio
drawn, with a seeded generator, from the real steps' own ratios (decode-only steps from decode
steps', prefill steps from prefill steps'): the step-time model's measured residual, replayed.
`summary` reports the median count over `NUM_REPLAYS` such replays (seeds 0 ..) beside the
deterministic one. Both are stated; neither replaces the other.

Alternatives considered. A pace sweep (every step x 0.98-1.02, benchmarks/vllm_cpu_pace.py)
moves all steps one way, which a real run's steps do not (their ratios spread 8% around the
model's mean, step to step), and on session 6's second file its median stays on the far side of
the race (2,656 prefix-hit tokens at paces 0.985-1.015 against the real 2,336). Drawing the
ratios independently ignores that real noise comes in phases (a co-tenant's burst slows several
steps); the residuals carry no timestamps to model that.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from agentrt.engine_adapters.sim import SimEngine
from agentrt.engine_adapters.sim.batcher import Batch

NUM_REPLAYS = 21  # an odd count: the median is one replay's value


class NoisySimEngine(SimEngine):
    """A `SimEngine` whose every step lasts its modelled duration times a ratio drawn from
    `ratios["decode"]` (steps without prefill) or `ratios["prefill"]`, with `random.Random(seed)`.
    Decode spans are stepped one by one (`fast_forward=False`): a span's closed form has no
    per-step draw. Raises ValueError if a kind has no ratios."""

    def __init__(self, *args: Any, ratios: dict[str, list[float]], seed: int, **options: Any) -> None:
        if not ratios.get("decode") or not ratios.get("prefill"):
            raise ValueError(f"NoisySimEngine needs measured ratios of both step kinds, got "
                             f"{ {k: len(v) for k, v in ratios.items()} }: record steps of both kinds first")
        super().__init__(*args, fast_forward=False, **options)
        self._ratios, self._rng = ratios, random.Random(seed)

    def _duration(self, batch: Batch) -> float:
        duration = super()._duration(batch)  # sets the batch's prefill tokens (`Batch.shape`)
        return duration * self._rng.choice(self._ratios["prefill" if batch.num_prefill_tokens else "decode"])


def residual_ratios(steps: Iterable[Any], predicted: Callable[[Any], float]) -> dict[str, list[float]]:
    """Measured over predicted duration of each step (`seconds` over `predicted(step)`), by kind."""
    out: dict[str, list[float]] = {"decode": [], "prefill": []}
    for s in steps:
        out["prefill" if s.num_prefill_tokens else "decode"].append(s.seconds / predicted(s))
    return out
