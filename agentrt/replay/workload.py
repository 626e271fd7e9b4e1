"""Turning trace programs into a workload: token scaling and arrival times."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from agentrt.exceptions import ConfigError
from agentrt.replay.trace import LLMStep, TraceProgram


MAX_TOKENS = 2**31 - 1  # token counts past this are no context any engine holds
MAX_ARRIVAL_S = 1e8  # past ~1e9 s a float clock is coarser than an engine step, and the simulation stalls


@dataclass(slots=True, frozen=True)
class Scaling:
    """Token scaling for small engines: every count is multiplied by `scale` (outputs keep >= 1
    token). `requested` is what the user asked for; `scale` may be smaller so that the largest
    prompt + output fits `max_context` (one factor for the whole workload keeps the ratio
    between prefix reuse and new tokens, and the programs' relative sizes)."""

    requested: float = 1.0
    scale: float = 1.0
    max_context: int | None = None

    def tokens(self, n: int, *, at_least: int = 0) -> int:
        return max(at_least, round(n * self.scale))


def make_scaling(programs: Sequence[TraceProgram], token_scale: float = 1.0, max_context: int | None = None) -> Scaling:
    """Raises ConfigError for token_scale <= 0, max_context < 2, or a scaled call over MAX_TOKENS."""
    if not token_scale > 0 or math.isinf(token_scale):
        raise ConfigError(f"--token-scale must be > 0, got {token_scale}")
    if max_context is not None and max_context < 2:
        raise ConfigError(f"--max-context must be >= 2 tokens, got {max_context}")
    scale = token_scale
    longest = max((s.input_tokens + s.output_tokens for p in programs for s in p.steps if isinstance(s, LLMStep)),
                  default=1)
    if max_context is not None:  # headroom of 2 tokens per call for rounding up of outputs
        scale = min(scale, (max_context - 2) / longest)
    if longest * scale > MAX_TOKENS:
        raise ConfigError(f"--token-scale {token_scale:g} makes the longest call {longest * scale:.3g} tokens; "
                          f"at most {MAX_TOKENS:,} (use --max-context to fit an engine)")
    return Scaling(requested=token_scale, scale=scale, max_context=max_context)


def poisson_arrivals(n: int, rate: float, seed: int) -> list[float]:
    """Arrival times of `n` programs, Poisson at `rate` per second (the first at 0).
    Raises ConfigError for rate <= 0."""
    if not rate > 0:
        raise ConfigError(f"--rate must be > 0 programs/s, got {rate} (use --offline for all at once)")
    rng = random.Random(seed)
    t, out = 0.0, []
    for i in range(n):
        if i:
            t += rng.expovariate(rate)
        out.append(t)
    if t > MAX_ARRIVAL_S:
        raise ConfigError(f"--rate {rate:g} spreads {n} arrivals over {t:.3g} s; at most {MAX_ARRIVAL_S:g} s "
                          "(the virtual clock loses its resolution): give a higher rate")
    return out


def offline_arrivals(n: int) -> list[float]:
    return [0.0] * n
