"""benchmarks/vllm_cpu_noise.py: each simulated step takes the model's time x a measured ratio of
its kind, drawn with a seed; with every ratio 1 it is the deterministic simulator."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from trio.testing import MockClock

from agentrt.engine_adapters.sim import SimEngine
from agentrt.engine_adapters.vllm import StepRecord
from agentrt.programs.tokens import Tokens
from tests.engine_adapters.test_sim_engine import request, serve

from bench_scripts import load_script
from test_vllm_cpu import MODEL, WORKLOAD

noise = load_script("vllm_cpu_noise")
bench = load_script("vllm_cpu")


def replay(step_noise: tuple[dict[str, list[float]], int] | None) -> Any:
    work = bench.workload({**WORKLOAD, "programs": 3})
    return bench.sim_run(WORKLOAD, bench.bench_profile(MODEL, 8), "fcfs", work, (0.002, 0.005), step_noise)


def test_ratios_of_one_replay_the_deterministic_simulator() -> None:
    plain, ones = replay(None), replay(({"decode": [1.0], "prefill": [1.0]}, 0))
    assert [(m.trace_id, m.jct, m.prefix_hit_tokens) for m in ones.metrics] == \
        [(m.trace_id, pytest.approx(m.jct, rel=1e-9), m.prefix_hit_tokens) for m in plain.metrics]


def lone_call_steps(engine: SimEngine) -> list[tuple[int, float]]:
    """A lone 300-token call with 5 output tokens on `engine`: (prefill tokens, duration) per step."""
    async def body() -> None:
        await engine.generate(request("c", Tokens.synthetic(300, key="c"), 5))

    trio.run(serve, engine, body, clock=MockClock(autojump_threshold=0))
    return [(i.num_prefill_tokens, i.duration) for i in engine.statistics().iterations]


def test_each_step_lasts_its_modelled_time_times_a_ratio_of_its_kind() -> None:
    profile, options = bench.bench_profile(MODEL, 8), dict(num_gpu_blocks=47, block_size=32)
    plain = lone_call_steps(SimEngine(profile, fast_forward=False, **options))
    noisy = lone_call_steps(noise.NoisySimEngine(profile, ratios={"decode": [3.0], "prefill": [0.5]}, seed=0, **options))
    assert [n for n, _ in noisy] == [n for n, _ in plain] == [300, 0, 0, 0, 0]
    assert [d for _, d in noisy] == pytest.approx([0.5 * plain[0][1]] + [3.0 * d for _, d in plain[1:]], rel=1e-9)


def test_a_seed_fixes_the_draws() -> None:
    mixed = {"decode": [0.9, 1.1], "prefill": [0.8, 1.2]}
    assert [m.jct for m in replay((mixed, 7)).metrics] == [m.jct for m in replay((mixed, 7)).metrics]
    assert [m.jct for m in replay((mixed, 7)).metrics] != [m.jct for m in replay((mixed, 8)).metrics]


def test_the_ratios_are_measured_over_predicted_by_kind_and_both_kinds_are_required() -> None:
    steps = [StepRecord(64, 0, 64, 0.2), StepRecord(0, 1, 65, 0.03), StepRecord(0, 2, 130, 0.05)]
    ratios = noise.residual_ratios(steps, lambda s: 0.1)
    assert ratios == {"prefill": [pytest.approx(2.0)], "decode": [pytest.approx(0.3), pytest.approx(0.5)]}
    with pytest.raises(ValueError, match="both step kinds"):
        noise.NoisySimEngine(ratios={"decode": [1.0], "prefill": []}, seed=0)
