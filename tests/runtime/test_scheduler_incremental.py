"""The incremental waiting queue agrees with a full re-sort on a random workload, per policy."""

from __future__ import annotations

import random

import pytest

from agentrt.runtime.scheduling.policies import CallPhase, CallState, PolicyName
from agentrt.runtime.scheduling.scheduler import ProgramScheduler
from factories import make_scheduler, submit


def _reference_order(sched: ProgramScheduler, now: float) -> list[CallState]:
    waiting = [c for c in sched.calls.values() if c.phase is CallPhase.WAITING]
    for c in waiting:
        assert sched.policy.promotion_time(c, sched.programs[c.program_id]) > now, "a due promotion was missed"
    key = lambda c: (*sched.policy.sort_key(c, sched.programs[c.program_id], c.had_pin), c.seq)  # noqa: E731
    return sorted(waiting, key=key)


@pytest.mark.parametrize("policy", [n.value for n in PolicyName])
def test_incremental_order_matches_full_sort(policy: str) -> None:
    rng = random.Random(7)
    sched = make_scheduler(policy, beta=1.5, mlfq_starvation_limit=2.0)
    now, running, n, longest = 0.0, [], 0, 0
    for _ in range(600):
        now += rng.uniform(0.0, 0.2)
        sched.expire_pins(now)
        if rng.random() < 0.7:
            n += 1
            pid = f"p{rng.randrange(30)}"
            service = rng.uniform(0, 40)
            submit(sched, f"c{n}", pid, now, program_service=service, priority=service * rng.random(),
                   program_arrival=float(pid[1:]), prefill_time=rng.uniform(0, 2),
                   gap_samples=(rng.uniform(0, 3),) * 3)
        order = sched.order_waiting(now)
        assert order == _reference_order(sched, now)
        longest = max(longest, len(order))
        for call in order[:rng.randrange(2) if len(running) < 8 else 0]:
            sched.on_scheduled(call, now)
            running.append(call)
        if running and rng.random() < 0.2:
            victim = sched.pick_victim(running)
            assert victim is max(running, key=lambda c: c.key)
            running.remove(victim)
            sched.on_preempted(victim, now)
        sched.on_iteration(running, 0.1)
        if running and rng.random() < 0.4:
            done = running.pop(rng.randrange(len(running)))
            sched.on_call_finished(done, now, num_blocks=5, total_blocks=1000, free_blocks=100,
                                   wanted_blocks=rng.randrange(300), reprefill_time=0.5)
    assert longest > 50
    stats = sched.statistics()
    assert stats.num_waiting == len(sched.order_waiting(now))
    if policy in ("plas", "atlas", "agentrt", "mlfq"):
        assert stats.num_promotions > 0 and stats.num_demotions > 0 and stats.num_preemptions > 0


def test_promotion_burst_resorts_once_and_keeps_order() -> None:
    sched = make_scheduler("plas", beta=1.0)
    for i in range(200):  # every other call starves at t = 10 + 5: a burst of 100 promotions
        submit(sched, f"c{i}", f"p{i}", 10.0 + i * 0.001, program_service=5.0 if i % 2 else 0.0,
               program_arrival=0.0)
    order = sched.order_waiting(15.5)
    assert sched.statistics().num_promotions == 100
    assert order == _reference_order(sched, 15.5)
    assert [c.call_id for c in order[:3]] == ["c0", "c1", "c2"]  # all in queue 0 now: FCFS
