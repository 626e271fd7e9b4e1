"""benchmarks/oracle_gap.py's size-blind bound: `gittins` handed the true distribution of sizes
orders by it from the first call (no cold start on agentrt's order) and learns nothing more, and
the swap of the policy class is undone afterwards."""

from __future__ import annotations

from agentrt.runtime.scheduling.policies import POLICY_CLASSES, GittinsPolicy, PolicyName, make_policy
from agentrt.runtime.scheduling.policies.base import CallState, ProgramState
from agentrt.runtime.scheduling.policies.gittins import MIN_SAMPLES

from bench_scripts import load_script


def test_gittins_knowing_orders_by_the_given_distribution_and_restores_the_class() -> None:
    services = [10.0] * MIN_SAMPLES + [300.0] * MIN_SAMPLES
    with load_script("oracle_gap").gittins_knowing(services):
        policy = make_policy("gittins")
        assert isinstance(policy, GittinsPolicy)
        policy.on_program_end(ProgramState("done", 0.0, service=1000.0))
        assert sorted(policy.finished._sorted) == sorted(services)  # learns nothing more
        new, past_short = ProgramState("new", 0.0), ProgramState("long", 0.0, service=20.0)
        call = CallState("c", "new", 0.0)
        # a program past the short sizes ranks below a new one (which may be short): the index, not FCFS
        assert policy.sort_key(call, new, False) < policy.sort_key(call, past_short, False)
    assert POLICY_CLASSES[PolicyName.GITTINS] is GittinsPolicy
    assert len(make_policy("gittins").finished) == 0


def test_seed_spread_is_the_geometric_mean_and_the_worst_seed() -> None:
    geo, worst, seed = load_script("oracle_gap").seed_spread({0: 1.0, 1: 1.21, 2: 1.1})
    assert abs(geo - (1.0 * 1.21 * 1.1) ** (1 / 3)) < 1e-12
    assert (worst, seed) == (1.21, 1)


def test_the_kind_bound_ranks_each_program_by_its_own_kinds_distribution() -> None:
    services = {"bfcl": [2.0, 3.0, 4.0], "swe": [200.0, 300.0, 400.0]}
    with load_script("oracle_gap").gittins_knowing_kinds(services):
        policy = make_policy("gittins")
        call = CallState("c", "p", 0.0)
        short, long_ = ProgramState("a", 0.0, kind="bfcl"), ProgramState("b", 0.0, kind="swe")
        assert policy.sort_key(call, short, False) < policy.sort_key(call, long_, False)  # both new: the kind decides
        policy.on_program_end(ProgramState("done", 0.0, service=1.0, kind="swe"))
        assert policy.by_kind["swe"]._sorted == [200.0, 300.0, 400.0]  # type: ignore[attr-defined]
    assert POLICY_CLASSES[PolicyName.GITTINS] is GittinsPolicy
