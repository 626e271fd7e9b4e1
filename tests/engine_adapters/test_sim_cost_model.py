"""The roofline cost model and its calibration."""

from __future__ import annotations

import math

import pytest

from agentrt.engine_adapters.sim import PROFILES, CostModel, MeasuredStep, calibrate, fit_error, get_profile
from agentrt.engine_adapters.sim.cost_model import chunk_pairs
from agentrt.engine_adapters.sim.profiles import Profile
from agentrt.exceptions import ConfigError

H100_8B = PROFILES["llama-3.1-8b-h100"]


def test_decode_is_memory_bound_and_prefill_compute_bound() -> None:
    cost, p = CostModel(H100_8B), H100_8B
    bandwidth = p.gpu.memory_bandwidth * p.memory_efficiency
    weights = p.model.weight_bytes / bandwidth
    one_decode = cost.iteration_time(0, 1, 1000, 1000)
    assert one_decode == pytest.approx(p.overhead_s + weights + 1001 * p.model.kv_bytes_per_token / bandwidth)
    flops = p.gpu.peak_flops * p.compute_efficiency
    prefill = cost.iteration_time(8192, 0, 8192, chunk_pairs(0, 8192))
    linear = 2 * p.model.num_matmul_params * 8192 / flops
    assert prefill > linear + p.overhead_s
    assert cost.iteration_time(0, 0, 0, 0) == 0.0


def test_tensor_parallel_adds_all_reduce_time() -> None:
    cost = CostModel(PROFILES["llama-3.1-70b-4xh100"])
    assert cost.comm_time(1) > 0
    assert cost.comm_time(1000) > cost.comm_time(1)
    assert CostModel(H100_8B).comm_time(1000) == 0


def test_single_sequence_helpers_compose_iterations() -> None:
    cost = CostModel(H100_8B)
    chunks = cost.iteration_time(8192, 0, 8192, chunk_pairs(0, 8192)) + \
        cost.iteration_time(1808, 0, 10000, chunk_pairs(8192, 1808))
    assert cost.prefill_time(10000) == pytest.approx(chunks)
    assert cost.decode_time(100, 2) == pytest.approx(cost.iteration_time(0, 1, 101, 101)
                                                      + cost.iteration_time(0, 1, 102, 102))
    assert cost.lone_call_time(10000, 3) == pytest.approx(cost.prefill_time(10000) + cost.decode_time(10000, 2))


def _steps(profile, shapes):
    cost = CostModel(profile)
    return [MeasuredStep(p, d, c, cost.iteration_time(p, d, c, pairs), pairs) for p, d, c, pairs in shapes]


SHAPES = [(0, d, d * ctx, d * ctx) for d in (1, 8, 32, 128) for ctx in (500, 4000, 30000)] + \
         [(n, 0, n + c, chunk_pairs(c, n)) for n in (2048, 4096, 8192) for c in (0, 8000)] + \
         [(4096, 16, 4096 + 16 * 2000, chunk_pairs(0, 4096) + 16 * 2000)]


def test_calibrate_recovers_the_factors_that_generated_the_steps() -> None:
    truth = H100_8B.with_factors(memory_efficiency=0.7, compute_efficiency=0.45, overhead_s=0.004)
    fitted = calibrate(_steps(truth, SHAPES), H100_8B)
    assert fitted.memory_efficiency == pytest.approx(0.7, rel=1e-6)
    assert fitted.compute_efficiency == pytest.approx(0.45, rel=1e-6)
    assert fitted.overhead_s == pytest.approx(0.004, rel=1e-6)
    assert fitted.name == "llama-3.1-8b-h100-calibrated"
    assert fit_error(fitted, _steps(truth, SHAPES)).max_abs_rel_error < 1e-6


def test_calibrate_fits_attention_apart_from_the_matmuls() -> None:
    """Steps whose attention pairs run slower per FLOP than their matmuls (vLLM's CPU engine): the
    fit recovers the attention factor, so prefills continuing a cached context (c = 8000) are
    priced as measured; with one compute factor for both, the same steps cannot be fitted."""
    truth = H100_8B.with_factors(memory_efficiency=0.7, compute_efficiency=0.45, overhead_s=0.004,
                                 attention_efficiency=0.3)
    fitted = calibrate(_steps(truth, SHAPES), H100_8B)
    assert fitted.attention_efficiency == pytest.approx(0.3, rel=1e-6)
    assert fitted.compute_efficiency == pytest.approx(0.45, rel=1e-6)
    assert fit_error(fitted, _steps(truth, SHAPES)).max_abs_rel_error < 1e-6
    shared = fitted.with_factors(memory_efficiency=0.7, compute_efficiency=0.45, overhead_s=0.004,
                                 attention_efficiency=1.0)
    continuing = [(n, 0, n + 8000, chunk_pairs(8000, n)) for n in (2048, 4096)]
    assert fit_error(shared, _steps(truth, continuing)).max_abs_rel_error > 0.2
    one_factor = calibrate(_steps(truth, SHAPES), H100_8B, fit_attention=False)
    assert one_factor.attention_efficiency == 1.0 and fit_error(one_factor, _steps(truth, SHAPES)).mean_abs_rel_error > 0.01


def test_each_prefilling_request_adds_its_fixed_cost() -> None:
    """A step of two short prefills costs the profile's per-prefill overhead twice (vLLM's CPU
    engine: each request's inputs and metadata), a lone prefill's chunks once each; 0 by default."""
    p = H100_8B.with_factors(memory_efficiency=0.7, compute_efficiency=0.45, overhead_s=0.004,
                             overhead_per_prefill_s=0.003)
    cost, flat = CostModel(p), CostModel(H100_8B.with_factors(memory_efficiency=0.7, compute_efficiency=0.45,
                                                              overhead_s=0.004))
    shape = (200, 3, 200 + 3000, chunk_pairs(0, 100) * 2 + 3000)
    assert cost.iteration_time(*shape, 2) == pytest.approx(flat.iteration_time(*shape) + 2 * 0.003)
    assert cost.iteration_time(*shape) == flat.iteration_time(*shape)  # no prefilling requests counted
    assert cost.prefill_time(10000) == pytest.approx(flat.prefill_time(10000) + 2 * 0.003)  # two chunks of 8192
    assert H100_8B.overhead_per_prefill_s == 0.0


def test_calibrate_recovers_the_per_prefill_overhead() -> None:
    """Steps that say how many requests they prefill: the fit separates that fixed cost from the
    step's; without the counts it keeps the base's (0), as before."""
    truth = H100_8B.with_factors(memory_efficiency=0.7, compute_efficiency=0.45, overhead_s=0.004,
                                 overhead_per_prefill_s=0.006)
    cost = CostModel(truth)
    shapes = [(*s, r) for s in SHAPES for r in ((0,) if s[0] == 0 else (1, 2, 4))]
    steps = [MeasuredStep(p, d, c, cost.iteration_time(p, d, c, pairs, r), pairs, r) for p, d, c, pairs, r in shapes]
    fitted = calibrate(steps, H100_8B)
    assert fitted.overhead_per_prefill_s == pytest.approx(0.006, rel=1e-6)
    assert fitted.overhead_s == pytest.approx(0.004, rel=1e-6)
    assert fitted.compute_efficiency == pytest.approx(0.45, rel=1e-6)
    assert fit_error(fitted, steps).max_abs_rel_error < 1e-6
    unknown = calibrate([MeasuredStep(s.num_prefill_tokens, s.num_decode_tokens, s.num_context_tokens, s.seconds,
                                      s.num_attention_pairs) for s in steps], H100_8B)
    assert unknown.overhead_per_prefill_s == 0.0 and fit_error(unknown, steps).max_abs_rel_error > 0.01


def test_calibrate_accepts_tuples_and_keeps_factors_it_cannot_see() -> None:
    cost = CostModel(H100_8B.with_factors(memory_efficiency=0.6, compute_efficiency=0.6, overhead_s=0.002))
    decode_only = [(0, d, d * 1000, cost.iteration_time(0, d, d * 1000, d * 1000)) for d in (1, 4, 16, 64)]
    fitted = calibrate(decode_only, "llama-3.1-8b-h100", name="fit")
    assert fitted.memory_efficiency == pytest.approx(0.6, rel=1e-6)
    assert fitted.compute_efficiency == H100_8B.compute_efficiency  # no compute-bound step
    assert fitted.name == "fit"


def test_calibrate_keeps_factors_physical() -> None:
    noisy = [MeasuredStep(0, 1, 100, 1e-5) for _ in range(5)]  # faster than the datasheet allows
    fitted = calibrate(noisy, H100_8B)
    assert 0 < fitted.memory_efficiency <= 1 and fitted.overhead_s >= 0


def test_calibrate_rejects_too_few_or_bad_steps() -> None:
    with pytest.raises(ConfigError, match="at least 3"):
        calibrate([(0, 1, 100, 0.01)], H100_8B)
    with pytest.raises(ConfigError, match="seconds > 0"):
        calibrate([(0, 1, 100, 0.0)] * 3, H100_8B)


def test_decode_steps_are_bitwise_iteration_times() -> None:
    cost = CostModel(get_profile("llama-3.1-70b-4xh100"))
    durations, ends = cost.decode_steps(3, 3000, 5.0, max_steps=100, stop=math.inf)
    assert len(durations) == 100
    end = 5.0
    for j, d in enumerate(durations):
        context = 3000 + 3 * (j + 1)
        assert d == cost.iteration_time(0, 3, context, context)
        end += d
        assert ends[j] == end
    _, ends = cost.decode_steps(3, 3000, 5.0, max_steps=100, stop=ends[9])
    assert len(ends) == 10  # the tenth ends at `stop`: no iteration starts at or after it


def _roofline(p: Profile, num_prefill: int, num_decode: int, num_context: int, num_pairs: int) -> float:
    """The module docstring's formula, written out from the profile's fields."""
    m, g, tp = p.model, p.gpu, p.num_gpus
    tokens = num_prefill + num_decode
    bandwidth = g.memory_bandwidth * p.memory_efficiency
    memory = (m.weight_bytes / tp + (num_context + tokens) * p.kv_bytes_per_token_per_gpu) / bandwidth
    compute = ((2 * m.num_matmul_params / tp) * tokens + (4 * m.num_layers * m.num_heads * m.head_dim / tp) * num_pairs) \
        / (g.peak_flops * p.compute_efficiency)
    allreduce = 0.0
    if tp > 1:
        per_layer = p.allreduce_latency_s + tokens * m.hidden_size * m.dtype_bytes * 2 * (tp - 1) / tp / g.link_bandwidth
        allreduce = 2 * m.num_layers * per_layer
    return p.overhead_s + max(memory, compute) + allreduce


@pytest.mark.parametrize("name", sorted(PROFILES))
@pytest.mark.parametrize(("num_prefill", "num_decode", "num_context"), [(0, 1, 1000), (0, 64, 200_000),
                                                                        (8192, 0, 8192), (2048, 32, 60_000)])
def test_iteration_time_is_the_roofline(name: str, num_prefill: int, num_decode: int, num_context: int) -> None:
    p = PROFILES[name]
    pairs = chunk_pairs(num_context - num_prefill, num_prefill) + num_decode * (num_context // max(num_decode, 1))
    got = CostModel(p).iteration_time(num_prefill, num_decode, num_context, pairs)
    assert got == pytest.approx(_roofline(p, num_prefill, num_decode, num_context, pairs), rel=1e-12)
