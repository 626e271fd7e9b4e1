"""Guard of the measured win of agentrt's gate by program kind (kinds.py; docs/scheduling.md,
"Twelfth pass"): the whole mixed workload (66 SWE-bench and 84 BFCL programs, each kind named by
its trace's agent) on the 8B/H100 profile's full cache at 0.0875 programs/s, past fcfs's knee,
where the gate holds programs back for most of the run. The gate learns online that BFCL programs
are short and admits them before SWE-bench ones. Measured: seed 0 mean JCT 330.9 -> 302.8 s (the
BFCL programs' 84.4 -> 42.2 s), seed 1 316.8 -> 304.9 s; p99 lower on both. Virtual time, so one
run per side decides.
"""

from __future__ import annotations

import pytest

from agentrt.replay.bench import BenchSpec, replay_once
from agentrt.replay.metrics import summarize
from agentrt.replay.mix import load_mix, parse_mix
from agentrt.replay.workload import make_scaling
from agentrt.runtime.scheduling.policies import PolicyConfig

RATE = 0.0875
SHORT_TOKENS = 4000  # BFCL programs generate 256-3,009 tokens, SWE-bench ones 7,074-57,989


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("seed", "max_ratio"), [(0, 0.95), (1, 0.99)])
def test_the_kind_gate_shortens_the_mixed_workload(seed: int, max_ratio: float) -> None:
    programs = load_mix(parse_mix("mixed"), programs=None, seed=seed)
    assert len({p.source for p in programs}) == 2
    spec = BenchSpec(programs=programs, scaling=make_scaling(programs), policies=("agentrt",), rates=(RATE,),
                     seed=seed, engine_options={"profile": "llama-3.1-8b-h100"})
    on = replay_once(spec, PolicyConfig(name="agentrt"), RATE)
    off = replay_once(spec, PolicyConfig(name="agentrt", kind_gate_ratio=None), RATE)
    assert on.summary.num_failed == off.summary.num_failed == 0
    assert on.summary.mean_jct <= max_ratio * off.summary.mean_jct, (on.summary.mean_jct, off.summary.mean_jct)
    assert on.summary.p99_jct <= off.summary.p99_jct, (on.summary.p99_jct, off.summary.p99_jct)
    short_on, short_off = (summarize([m for m in r.metrics if m.generated_tokens < SHORT_TOKENS]) for r in (on, off))
    assert short_on.mean_jct <= 0.9 * short_off.mean_jct, (short_on.mean_jct, short_off.mean_jct)
