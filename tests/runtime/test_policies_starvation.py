"""Anti-starvation: Autellix's wait/service ratio (plas, atlas, agentrt), exact promotion times."""

from __future__ import annotations

import math

import pytest

from factories import ids, make_call, make_policy_for, make_program, make_scheduler, run, short_of_memory, submit


def test_ratio_promotion_time_is_exact_pure() -> None:
    policy = make_policy_for("plas", beta=4.0)
    program = make_program("p", service=2.0, wait=6.0)
    call = make_call("c", "p", arrival=3.0, level=2, ratio_service=0.5, ratio_wait=1.0, ratio_from=10.0)
    # (6 + 1 + (t - 10)) / (2 + 0.5) >= 4  <=>  t >= 13
    assert policy.promotion_time(call, program) == 13.0
    policy.promote(call, 13.0)
    assert (call.level, call.ratio_wait, call.ratio_service, call.ratio_from) == (0, 0.0, 0.0, 13.0)
    assert (program.service, program.wait) == (2.0, 6.0)  # only the call's own counters reset
    assert policy.promotion_time(call, program) == math.inf  # top queue: nothing to promote to


@pytest.mark.parametrize("policy", ["plas", "atlas", "agentrt"])
def test_waiting_call_is_promoted_once_ratio_passes_beta(policy: str) -> None:
    sched = short_of_memory(make_scheduler(policy, beta=4.0))  # else agentrt queues by arrival
    old = submit(sched, "old", "p_old", 0.0, program_service=5.0, priority=5.0)
    submit(sched, "new", "p_new", 1.0)
    assert old.level == 3
    assert sched.next_wakeup() == 20.0  # an idle engine wakes for the promotion
    assert ids(sched.order_waiting(19.99)) == ["new", "old"]  # ratio 19.99 / 5 < 4
    assert ids(sched.order_waiting(20.0)) == ["old", "new"]  # top queue, then FCFS
    assert (old.level, old.num_promotions, old.ratio_from) == (0, 1, 20.0)
    assert old.wait_at(25.0) == 25.0  # the reported waiting is not reset
    assert sched.programs["p_old"].service == 5.0
    assert sched.statistics().num_promotions == 1


def test_promoted_call_counts_afresh_after_demotion() -> None:
    sched = make_scheduler("plas", beta=4.0)
    call = submit(sched, "c", "p", 0.0, program_service=5.0)
    sched.order_waiting(20.0)
    run(sched, call, 20.0, 1.5)  # over queue 0's 1 s quantum: demoted to queue 1
    assert call.level == 1
    sched.on_preempted(call, 21.5)
    # (5 s program wait is not counted yet: the call is unfinished) (0 + t - 21.5) / (5 + 1.5) >= 4
    assert call.promote_at == 21.5 + 26.0
    assert sched.order_waiting(47.49)[0].level == 1
    assert sched.order_waiting(47.5)[0].level == 0


def test_sibling_finish_moves_promotion_earlier() -> None:
    sched = make_scheduler("plas", beta=4.0)
    first = submit(sched, "first", "p", 0.0, program_service=2.0)
    second = submit(sched, "second", "p", 0.0, program_service=2.0)
    assert second.promote_at == 8.0  # 4 * 2 s of service
    run(sched, first, 6.0, 0.5)
    sched.remove_call("first", 6.5)
    # program: 2.5 s service, 6 s of waiting: 6 + t >= 4 * 2.5  <=>  t >= 4, already due
    assert second.promote_at == 4.0
    assert sched.order_waiting(6.5) == [second] and second.level == 0


def test_preemption_allowed_only_for_strictly_higher_queue() -> None:
    sched = make_scheduler("atlas")
    low = submit(sched, "low", "p1", 0.0, priority=3.0, program_service=3.0)
    top = submit(sched, "top", "p2", 1.0)
    top2 = submit(sched, "top2", "p3", 2.0)
    assert sched.can_preempt(top, low)
    assert not sched.can_preempt(top2, top)
    assert not sched.can_preempt(low, top)
