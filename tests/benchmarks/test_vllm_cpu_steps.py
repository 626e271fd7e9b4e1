"""benchmarks/vllm_cpu_steps.py's arithmetic, on hand-built steps (the profile itself needs vLLM)."""

from __future__ import annotations

import pytest

from bench_scripts import load_script

steps_script = load_script("vllm_cpu_steps")


def test_the_summary_takes_the_decode_phase_and_the_prefill_phase_and_leaves_the_warm_up_out() -> None:
    # fields: prefill tokens, decode tokens, wall s, process CPU s, thread CPU s, schedule() CPU s
    warm_up = [[64, 0, 5.0, 5.0, 5.0, 0.1], [0, 1, 5.0, 5.0, 5.0, 0.1]]  # slow first shapes: left out
    decode = [[0, 1, 0.010, 0.020, 0.009, 0.0001]] * 4 + [[0, 1, 0.030, 0.025, 0.009, 0.0001]]
    prefill = [[n, 0, 0.01 + n * 5e-4, 0.01 + n * 1e-3, 0.01 + n * 5e-4, 0.0001] for n in (64, 128, 256, 448)]
    s = steps_script.summarize(warm_up + decode + prefill, num_decode=6, num_prefill=4)
    assert s["decode_steps"] == 5 and s["decode_wall_ms"] == pytest.approx(10.0)
    assert (s["decode_cpu_ms"], s["decode_thread_cpu_ms"], s["decode_cpu_fastest_ms"]) == pytest.approx((20.0, 9.0, 20.0))
    assert s["prefill_wall_us_per_token"] == pytest.approx(500.0) and s["prefill_cpu_us_per_token"] == pytest.approx(1000.0)
    assert s["ratio_wall"] == pytest.approx(5e-4 * steps_script.TYPICAL_PROMPT / 0.010)


def test_cpu_lists_read_as_taskset_writes_them() -> None:
    assert steps_script.cpu_list("0,2-4") == {0, 2, 3, 4} and steps_script.cpu_list(None) is None
