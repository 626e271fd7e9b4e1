"""benchmarks/vllm_cpu_pace.py: a pace scales every simulated step, a run's pace is its measured
over predicted step time, and the table replays the benchmark's workload at each pace."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agentrt.engine_adapters.sim.cost_model import CostModel

from bench_scripts import load_script
from test_vllm_cpu import MODEL, WORKLOAD, fake_run

pace = load_script("vllm_cpu_pace")
bench = pace.bench


def test_a_pace_scales_every_step_within_the_efficiency_cap() -> None:
    profile = replace(bench.bench_profile(MODEL, 8), overhead_per_prefill_s=0.004)
    base, slow = CostModel(profile), CostModel(pace.scaled(profile, 1.25))
    for shape in [(0, 1, 300, 300, 0), (256, 2, 900, 40_000, 1), (1024, 0, 1024, 524_800, 2)]:
        assert slow.iteration_time(*shape) == pytest.approx(1.25 * base.iteration_time(*shape), rel=1e-9)
    assert pace.scaled(profile, 0.5).memory_efficiency == 1.0  # capped: no faster than the datasheet


def test_a_runs_pace_is_its_steps_measured_over_predicted_time() -> None:
    profile = bench.bench_profile(MODEL, 8)
    cost = CostModel(profile)
    run = fake_run(bench, "agentrt", 1, 1.0, 1.0)
    slow = replace(run, steps=[replace(s, seconds=1.2 * bench.predicted(cost, s)) for s in run.steps])
    fast = replace(run, steps=[replace(s, seconds=0.9 * bench.predicted(cost, s)) for s in run.steps])
    stock = replace(run, config="stock", steps=[])
    assert pace.paces_of([slow, stock, fast], profile) == pytest.approx([0.9, 1.2])


def test_the_table_replays_the_workload_at_each_pace() -> None:
    profile = bench.bench_profile(MODEL, WORKLOAD["max_num_seqs"])
    work = bench.workload(WORKLOAD)
    rows = pace.table(WORKLOAD, profile, ["fcfs"], [1.0, 2.0], work).splitlines()[2:]
    at_one = bench.counts_of(bench.sim_run(WORKLOAD, profile, "fcfs", work))
    assert len(rows) == 2 and rows[0].startswith("| fcfs | 1.000 |")
    assert f"| {at_one['computed']:,} | {at_one['prefix_hits']:,} |" in rows[0]
    assert float(rows[1].split("|")[3]) > float(rows[0].split("|")[3])  # twice as slow a step: a longer mean JCT
