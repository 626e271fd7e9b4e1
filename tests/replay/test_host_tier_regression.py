"""Guard of the host KV tier's measured win (issue 15), on the slice of test_mixed_regression.py
(16 `mixed` programs, seed 0, 8B/H100 with 8,000 KV blocks) around and past fcfs's knee.

With a 64 GiB host tier (write-through, PCIe 64 GB/s), a context that LRU evicted during a tool
call is loaded back instead of prefilled again, so fcfs stops thrashing: measured mean JCT 0.72x
(0.05/s) and 0.57x (0.1/s) of fcfs without the tier, p99 0.71x / 0.57x, and no context
re-prefilled beyond what the unloaded run re-prefills too."""

from __future__ import annotations

import pytest

from agentrt.replay.bench import BenchResult, BenchSpec, run_bench
from agentrt.replay.driver import ReplayResult
from agentrt.replay.mix import load_mix, parse_mix
from agentrt.replay.workload import make_scaling

RATES = (0.05, 0.1)
HOST_KV_GIB = 64.0
MAX_VS_NO_TIER = {0.05: 0.75, 0.1: 0.6}


def _bench(**options: object) -> BenchResult:
    programs = load_mix(parse_mix("mixed"), programs=16, seed=0)
    spec = BenchSpec(programs=programs, scaling=make_scaling(programs), policies=("fcfs",), rates=RATES,
                     engine_options={"profile": "llama-3.1-8b-h100", "num_gpu_blocks": 8000, **options}, jobs=2)
    return run_bench(spec)


@pytest.fixture(scope="module")
def runs() -> tuple[BenchResult, BenchResult]:
    return _bench(), _bench(host_kv_gib=HOST_KV_GIB)


def _reprefilled(result: ReplayResult) -> int:
    return int(result.engine_stats.num_reprefilled_tokens)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("rate", RATES)
def test_a_host_tier_stops_fcfs_thrashing(runs: tuple[BenchResult, BenchResult], rate: float) -> None:
    plain, tier = (b.at("fcfs", rate) for b in runs)
    assert plain.summary.num_failed == tier.summary.num_failed == 0
    assert tier.summary.mean_jct <= MAX_VS_NO_TIER[rate] * plain.summary.mean_jct
    assert tier.summary.p99_jct <= plain.summary.p99_jct
    assert tier.engine_stats.num_swapped_tokens > 0
    assert _reprefilled(tier) < _reprefilled(plain) / 50
