"""`calibrate`: fit a profile's overhead and efficiency factors to step times measured on a real engine.

The cost model is `overhead + R x overhead_per_prefill + max(M / memory_efficiency, T /
compute_efficiency + P / (compute_efficiency x attention_efficiency)) + comm`, where R is the
step's prefilling requests, M the memory time at datasheet peak and T, P the compute times of the
matmuls (tokens) and of attention (query-key pairs). Within one regime (memory- or compute-bound)
it is linear in (overhead, overhead_per_prefill, 1/memory_efficiency, 1/compute_efficiency,
1/(compute_efficiency x attention_efficiency)), so the fit alternates: assign each step to the
regime the current factors put it in, solve least squares for the five unknowns, repeat until the
assignment is stable (a few rounds). Factors are kept physical: efficiencies in (0, 1], overheads
>= 0; a factor no step informs (e.g. no step is compute-bound, or no step says how many requests
it prefilled) keeps the base profile's value. Attention has its own factor because a kernel can be slower per
FLOP than the matmuls: on vLLM's CPU engine a pair costs ~3x its FLOPs at matmul efficiency, which
a shared factor could only fit by mispricing either fresh prefills or those continuing a cached
context (docs/vllm.md, "Cached context").

Alternative considered: a general nonlinear least squares (scipy) on the max(): one more
dependency for the same answer; the piecewise-linear fit is exact within each regime.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from agentrt.engine_adapters.sim.cost_model import CostModel
from agentrt.engine_adapters.sim.profiles import DEFAULT_PROFILE, Profile, get_profile
from agentrt.exceptions import ConfigError

_MAX_ROUNDS = 20
_MIN_EFFICIENCY = 1e-3


@dataclass(frozen=True, slots=True)
class MeasuredStep:
    """One engine iteration measured on a real engine.

    num_context_tokens: KV tokens the step read, summed over its sequences (each sequence's KV
        length after the step). num_attention_pairs: query-key pairs computed; when unknown
        (None) it is estimated as (prefill + decode tokens) x the mean context per sequence.
        num_prefill_seqs: the step's requests that prefill; None (unknown) counts 0, so steps
        without it leave the profile's per-prefill overhead as it was."""

    num_prefill_tokens: int
    num_decode_tokens: int
    num_context_tokens: int
    seconds: float
    num_attention_pairs: int | None = None
    num_prefill_seqs: int | None = None

    def pairs(self) -> int:
        if self.num_attention_pairs is not None:
            return self.num_attention_pairs
        num_seqs = self.num_decode_tokens + (1 if self.num_prefill_tokens else 0)
        tokens = self.num_prefill_tokens + self.num_decode_tokens
        return tokens * self.num_context_tokens // max(num_seqs, 1)


@dataclass(frozen=True, slots=True)
class FitError:
    num_steps: int
    rmse_s: float
    mean_abs_rel_error: float
    max_abs_rel_error: float


StepLike = MeasuredStep | tuple[int, int, int, float]


def calibrate(steps: Iterable[StepLike], base: str | Profile = DEFAULT_PROFILE, *, name: str | None = None,
              fit_attention: bool = True) -> Profile:
    """A copy of `base` whose overheads and efficiencies best fit the measured `steps` (least squares).

    `steps`: `MeasuredStep`s or tuples (num_prefill_tokens, num_decode_tokens, num_context_tokens,
    seconds). `fit_attention=False` keeps `base`'s attention factor (one compute factor for both).
    Raises ConfigError with fewer than 3 usable steps or a non-positive time."""
    profile = get_profile(base)
    data = [_as_step(s) for s in steps]
    if len(data) < 3:
        raise ConfigError(f"calibrate needs at least 3 measured steps, got {len(data)}; measure more iterations")
    prefills, memory, tokens, pairs, comm, seconds = _features(profile, data)
    if not fit_attention:  # pairs priced at the base's ratio to the matmuls: one column, one factor
        tokens, pairs = tokens + pairs / profile.attention_efficiency, np.zeros_like(pairs)
    factors = np.array([profile.overhead_s, profile.overhead_per_prefill_s, 1 / profile.memory_efficiency,
                        1 / profile.compute_efficiency, 1 / (profile.compute_efficiency * profile.attention_efficiency)])
    bound = None
    for _ in range(_MAX_ROUNDS):
        is_memory = memory * factors[2] >= tokens * factors[3] + pairs * factors[4]
        if bound is not None and np.array_equal(bound, is_memory):
            break
        bound = is_memory
        factors = _fit(prefills, [np.where(is_memory, memory, 0.0), np.where(is_memory, 0.0, tokens),
                                  np.where(is_memory, 0.0, pairs)], seconds - comm, factors)
    return profile.with_factors(overhead_s=float(factors[0]), overhead_per_prefill_s=float(factors[1]),
                                memory_efficiency=float(1 / factors[2]), compute_efficiency=float(1 / factors[3]),
                                attention_efficiency=float(min(factors[3] / factors[4], 1.0)) if fit_attention
                                else profile.attention_efficiency,
                                name=name or f"{profile.name}-calibrated")


def fit_error(profile: str | Profile, steps: Iterable[StepLike]) -> FitError:
    """How well `profile`'s cost model predicts the measured steps."""
    cost = CostModel(get_profile(profile))
    data = [_as_step(s) for s in steps]
    predicted = np.array([cost.iteration_time(s.num_prefill_tokens, s.num_decode_tokens, s.num_context_tokens,
                                              s.pairs(), s.num_prefill_seqs or 0) for s in data])
    measured = np.array([s.seconds for s in data])
    rel = np.abs(predicted - measured) / measured
    return FitError(len(data), float(np.sqrt(np.mean((predicted - measured) ** 2))), float(rel.mean()), float(rel.max()))


def _as_step(step: StepLike) -> MeasuredStep:
    s = step if isinstance(step, MeasuredStep) else MeasuredStep(*step)
    if not s.seconds > 0 or s.num_prefill_tokens + s.num_decode_tokens <= 0:
        raise ConfigError(f"measured step {step!r}: needs seconds > 0 and at least one token")
    return s


def _features(profile: Profile, data: list[MeasuredStep]) -> tuple[np.ndarray, ...]:
    """Per step: prefilling requests, memory time, the matmuls' and attention's compute times at
    full efficiency, communication time, measured time."""
    peak = CostModel(profile.with_factors(memory_efficiency=1.0, compute_efficiency=1.0, overhead_s=0.0,
                                          attention_efficiency=1.0))
    prefills, memory, tokens, pairs, comm, seconds = [], [], [], [], [], []
    for s in data:
        prefills.append(float(s.num_prefill_seqs or 0))
        num_tokens = s.num_prefill_tokens + s.num_decode_tokens
        memory.append(peak.memory_time(num_tokens, s.num_context_tokens))
        tokens.append(peak.compute_time(num_tokens, 0))
        pairs.append(peak.compute_time(0, s.pairs()))
        comm.append(peak.comm_time(num_tokens))
        seconds.append(s.seconds)
    return tuple(np.array(x) for x in (prefills, memory, tokens, pairs, comm, seconds))


def _fit(prefills: np.ndarray, regimes: list[np.ndarray], target: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Least squares for (overhead, overhead per prefill, 1/memory_eff, 1/compute_eff,
    1/(compute_eff x attention_eff)) with physical bounds: a factor out of bounds is clamped and
    the others refitted (one active-set pass per factor)."""
    columns = [np.ones_like(target), prefills, *regimes]
    n = len(columns)
    low = np.array([0.0, 0.0] + [1.0] * (n - 2))  # overheads >= 0, efficiency <= 1
    high = np.array([np.inf, np.inf] + [1 / _MIN_EFFICIENCY] * (n - 2))
    fixed = {i: previous[i] for i in range(1, n) if not columns[i].any()}  # no step informs it
    factors = previous.copy()
    for _ in range(n):
        free = [i for i in range(n) if i not in fixed]
        factors[list(fixed)] = list(fixed.values())
        if not free:
            break
        rhs = target - sum((columns[i] * v for i, v in fixed.items()), np.zeros_like(target))
        solution, *_ = np.linalg.lstsq(np.column_stack([columns[i] for i in free]), rhs, rcond=None)
        factors[free] = solution
        clipped = np.clip(factors, low, high)
        moved = [i for i in free if clipped[i] != factors[i]]
        if not moved:
            return factors
        fixed.update({i: clipped[i] for i in moved})
    return np.clip(factors, low, high)
