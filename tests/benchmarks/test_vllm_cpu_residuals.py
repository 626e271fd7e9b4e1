"""benchmarks/vllm_cpu_residuals.py's step classification and per-request fit, on hand-built steps."""

from __future__ import annotations

import pytest

from agentrt.engine_adapters.kv import chunk_pairs
from agentrt.engine_adapters.vllm import StepRecord

from bench_scripts import load_script

residuals = load_script("vllm_cpu_residuals")


def step(new: int, cached: int, num_decode: int = 0, num_prefills: int = 1, cpu: float = 0.1) -> StepRecord:
    pairs = chunk_pairs(cached, new) + 500 * num_decode
    return StepRecord(new, num_decode, cached + new + 500 * num_decode, cpu, pairs, num_prefills + num_decode, cpu)


def test_a_step_continues_a_cached_context_when_its_pairs_say_so() -> None:
    assert residuals.continues(step(64, 768))
    assert not residuals.continues(step(256, 0))
    assert not residuals.continues(step(256, 0, num_decode=3))  # decodes' pairs are not a cached prefix
    assert not residuals.continues(step(0, 0, num_decode=2))


def test_the_per_request_fit_finds_a_fixed_cost_per_prefilling_request() -> None:
    shapes = [(n, k, d, p) for n in (32, 128, 512) for k in (0, 300) for d in (0, 1, 3) for p in (1, 2)]
    steps = [step(n * p, k, d, p, cpu=0.01 + 0.008 * p + 4e-4 * n * p + 3e-7 * chunk_pairs(k, n * p) + 1e-3 * d)
             for n, k, d, p in shapes]
    coef, error, error_with = residuals.per_request_fit(steps)
    assert coef[5] == pytest.approx(0.008, rel=1e-3) and error_with < 1e-6 < error
