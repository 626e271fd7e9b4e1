"""Accounting several iterations at once (decode spans) equals accounting them one by one.

`Policy.account_iterations` over several durations folds each call's sums in C when no step can
demote it, and `steps_without_level_change` says how many steps an engine may account later
without changing what sorts or preempts the calls (a level, or agentrt's attained service against
`order_preemption_level`'s boundary): both against the one-by-one reference."""

from __future__ import annotations

import random

import pytest

from agentrt.runtime.scheduling.policies import CallState
from agentrt.runtime.scheduling.policies.agentrt import attained
from agentrt.runtime.scheduling.policies.base import Policy
from tests.runtime.factories import make_call, make_policy_for

POLICIES = ["fcfs", "continuum", "mlfq", "plas", "atlas", "agentrt", "oracle", "gittins"]


def _calls(rng: random.Random, policy: Policy) -> list[CallState]:
    calls = []
    for i in range(rng.randrange(1, 8)):
        call = make_call(f"c{i}", seq=i)
        call.level = rng.randrange(len(getattr(policy, "quanta", (0.0,))))
        call.service, call.level_service, call.ratio_service = rng.random() * 3, rng.random() * 2, rng.random()
        calls.append(call)
    return calls


def _state(calls: list[CallState]) -> list[tuple[float, float, float, int]]:
    return [(c.service, c.level_service, c.ratio_service, c.level) for c in calls]


def _durations(rng: random.Random) -> list[float]:
    return [rng.choice([rng.random() * 0.05, rng.random() * 0.6, 0.0]) for _ in range(rng.randrange(2, 90))]


@pytest.mark.parametrize("policy_name", POLICIES)
@pytest.mark.parametrize("seed", range(40))
def test_several_iterations_at_once_equal_one_by_one(policy_name: str, seed: int) -> None:
    rng = random.Random(seed)
    policy = make_policy_for(policy_name)
    calls, durations = _calls(rng, policy), _durations(rng)
    reference = [make_call(c.call_id, seq=c.seq, level=c.level, service=c.service, level_service=c.level_service,
                           ratio_service=c.ratio_service) for c in calls]
    demoted_one_by_one = [c.call_id for d in durations for c in policy.account_iterations(reference, (d,))]
    demoted = [c.call_id for c in policy.account_iterations(calls, durations)]
    assert _state(calls) == _state(reference)  # bitwise: the same sums in the same order
    assert sorted(demoted) == sorted(demoted_one_by_one)


@pytest.mark.parametrize("policy_name", POLICIES)
@pytest.mark.parametrize("seed", range(40))
def test_no_level_change_before_the_step_it_names(policy_name: str, seed: int) -> None:
    rng = random.Random(1000 + seed)
    policy = make_policy_for(policy_name)
    calls, durations = _calls(rng, policy), _durations(rng)
    safe = policy.steps_without_level_change(calls, durations)
    assert len(safe) == len(calls) and all(0 <= n <= len(durations) for n in safe)
    changed_at = [len(durations)] * len(calls)  # one by one: the first step that changes each call's level
    # agentrt's `can_preempt_for` also reads the attained service against `order_service` (gittins
    # inherits the stop there, harmless: it only accounts earlier; the oracle's spans never stop)
    bound = getattr(policy, "order_service", None) if policy_name in ("agentrt", "gittins") else None
    for step, duration in enumerate(durations):
        levels = [c.level for c in calls]
        under = [bound is not None and attained(c) < bound for c in calls]
        policy.account_iterations(calls, (duration,))
        for i, (before, call) in enumerate(zip(levels, calls)):
            crossed = under[i] and attained(call) >= bound
            if (call.level != before or crossed) and changed_at[i] == len(durations):
                changed_at[i] = step
    assert all(n <= first for n, first in zip(safe, changed_at))  # never later than the change
    if policy_name not in ("fcfs", "continuum", "oracle"):
        assert safe == changed_at  # and exactly at it for the policies that demote
