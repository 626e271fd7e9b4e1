"""Guard of the measured win (issue 15): a small mixed slice under virtual time, three loads from
light to past fcfs's knee. The simulator is deterministic, so one run per (policy, load) decides.

The slice: 16 programs drawn from the `mixed` workload (SWE-bench + BFCL), seed 0, on the 8B/H100
profile with the KV cache cut to 8,000 blocks (128K tokens) so that a few SWE-bench contexts
oversubscribe it, as the whole trace does the full cache at the knee. Claims guarded:
agentrt's mean JCT is never above 1.02x fcfs's and its p99 never above fcfs's; past the knee it is
well below (measured 0.55x); and it stays within the issue's 1.1x of the clairvoyant oracle's
(measured 1.00x / 1.04x / 1.09x since known-long programs are ordered most-attained first,
`PolicyConfig.nearest_end_level`; 1.00x / 1.06x / 1.17x before).
"""

from __future__ import annotations

import pytest

from agentrt.replay.bench import BenchResult, BenchSpec, run_bench
from agentrt.replay.mix import load_mix, parse_mix
from agentrt.replay.workload import make_scaling

NUM_PROGRAMS = 16
NUM_GPU_BLOCKS = 8000
RATES = (0.02, 0.05, 0.1)  # programs/s: light, around fcfs's knee, past it (this slice)
MAX_VS_FCFS = 1.02
MAX_VS_FCFS_PAST_KNEE = 0.6
MAX_VS_ORACLE = 1.1


@pytest.fixture(scope="module")
def bench() -> BenchResult:
    programs = load_mix(parse_mix("mixed"), programs=NUM_PROGRAMS, seed=0)
    spec = BenchSpec(programs=programs, scaling=make_scaling(programs), policies=("fcfs", "agentrt", "oracle"),
                     rates=RATES, engine_options={"profile": "llama-3.1-8b-h100", "num_gpu_blocks": NUM_GPU_BLOCKS},
                     jobs=2)
    return run_bench(spec)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("rate", RATES)
def test_agentrt_never_worse_than_fcfs_and_near_the_oracle(bench: BenchResult, rate: float) -> None:
    fcfs, agentrt, oracle = (bench.at(p, rate).summary for p in ("fcfs", "agentrt", "oracle"))
    assert fcfs.num_failed == agentrt.num_failed == oracle.num_failed == 0
    assert agentrt.mean_jct <= MAX_VS_FCFS * fcfs.mean_jct, (rate, agentrt.mean_jct, fcfs.mean_jct)
    assert agentrt.mean_jct <= MAX_VS_ORACLE * oracle.mean_jct, (rate, agentrt.mean_jct, oracle.mean_jct)
    assert agentrt.p99_jct <= fcfs.p99_jct, (rate, agentrt.p99_jct, fcfs.p99_jct)


def test_agentrt_wins_past_the_knee(bench: BenchResult) -> None:
    rate = RATES[-1]
    fcfs, agentrt = (bench.at(p, rate).summary for p in ("fcfs", "agentrt"))
    assert agentrt.mean_jct <= MAX_VS_FCFS_PAST_KNEE * fcfs.mean_jct, (agentrt.mean_jct, fcfs.mean_jct)
    assert agentrt.p99_jct <= fcfs.p99_jct
