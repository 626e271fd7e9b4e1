"""Profiles, options and exports of the simulated engine."""

from __future__ import annotations

import pytest

import agentrt.engine_adapters.sim as sim
from agentrt.engine_adapters.sim import PROFILES, SimEngine, get_profile
from agentrt.exceptions import ConfigError, EngineError, UnknownNameError

EXPORTS = {
    "DEFAULT_PROFILE", "PROFILES", "CostModel", "FitError", "GPUSpec", "IterationRecord", "MeasuredStep",
    "ModelSpec", "Profile", "Responder", "SimConfig", "SimEngine", "SimStats", "calibrate", "fit_error",
    "get_profile",
}


def test_exported_names_are_pinned() -> None:
    assert set(sim.__all__) == EXPORTS
    for name in EXPORTS:
        assert hasattr(sim, name), name


def test_unknown_profile_lists_the_profiles() -> None:
    with pytest.raises(UnknownNameError) as info:
        get_profile("llama-9000")
    message = str(info.value)
    for name in PROFILES:
        assert name in message
    with pytest.raises(UnknownNameError):
        SimEngine("llama-9000")


def test_required_profiles_exist_with_model_configs() -> None:
    assert {"llama-3.1-8b-h100", "llama-3.1-8b-a100-80gb", "llama-3.1-70b-4xh100"} <= set(PROFILES)
    p8 = PROFILES["llama-3.1-8b-h100"].model
    assert p8.num_params == 8_030_261_248  # the published parameter count of Llama-3.1-8B
    assert p8.kv_bytes_per_token == 128 * 1024  # 2 (K,V) * 32 layers * 8 KV heads * 128 * 2 bytes
    assert PROFILES["llama-3.1-70b-4xh100"].model.num_params == pytest.approx(70.55e9, rel=1e-3)


def test_kv_capacity_follows_memory_as_vllm_computes_it() -> None:
    p = PROFILES["llama-3.1-8b-h100"]
    budget = p.gpu.memory_bytes * 0.9 - p.model.weight_bytes - p.non_kv_bytes_per_gpu
    assert p.num_kv_blocks() == int(budget // (16 * p.model.kv_bytes_per_token)) == 28019
    assert p.num_kv_blocks(0.5) < p.num_kv_blocks()
    tp = PROFILES["llama-3.1-70b-4xh100"]
    assert tp.kv_bytes_per_token_per_gpu == tp.model.kv_bytes_per_token / 4
    assert tp.num_kv_blocks() > 20_000
    with pytest.raises(EngineError, match="gpu_memory_utilization"):
        tp.num_kv_blocks(0.3)  # 70B/4 of weights do not fit in 30% of 80 GB


def test_vllm_defaults_per_gpu() -> None:
    h100, a100 = SimEngine(), SimEngine("llama-3.1-8b-a100-80gb")
    assert (h100.max_num_batched_tokens, h100.max_num_seqs, h100.block_size) == (8192, 1024, 16)
    assert (a100.max_num_batched_tokens, a100.max_num_seqs) == (2048, 256)
    assert h100.profile.name == "llama-3.1-8b-h100"
    assert h100.max_model_len == 131072


def test_options_are_validated_and_unknown_ones_listed() -> None:
    with pytest.raises(ConfigError, match="valid options: .*num_gpu_blocks"):
        SimEngine(num_blocks=10)
    with pytest.raises(ConfigError, match="gpu_memory_utilization"):
        SimEngine(gpu_memory_utilization=1.5)
    with pytest.raises(ConfigError, match="preemption_mode"):
        SimEngine(preemption_mode="drop")
    engine = SimEngine(num_gpu_blocks=100, block_size=32, max_num_seqs=4)
    assert (engine.num_blocks, engine.block_size, engine.max_num_seqs) == (100, 32, 4)


def test_profile_rejects_out_of_range_factors() -> None:
    with pytest.raises(ConfigError, match="memory_efficiency"):
        PROFILES["llama-3.1-8b-h100"].with_factors(memory_efficiency=1.5, compute_efficiency=0.5, overhead_s=0.0)
