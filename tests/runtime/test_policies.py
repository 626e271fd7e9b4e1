"""Exact decisions of each policy on hand-built states, and the policy factory."""

from __future__ import annotations

import math

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

import agentrt.runtime.scheduling.policies as policies
from agentrt.exceptions import ConfigError, UnknownNameError
from agentrt.runtime.scheduling.policies import CallState, PolicyConfig, PolicyName, make_policy
from agentrt.runtime.scheduling.scheduler import ProgramScheduler
from factories import ids, make_call, make_policy_for, make_program, make_scheduler, run, short_of_memory, submit

ALL = [n.value for n in PolicyName]


def test_exports() -> None:
    assert set(policies.__all__) == {
        "POLICY_CLASSES", "AgentRTPolicy", "ATLASPolicy", "CallPhase", "CallState", "ContinuumPolicy",
        "FCFSPolicy", "GittinsPolicy", "MLFQPolicy", "OraclePolicy", "PLASPolicy", "PinQuery", "PinState", "Policy",
            "PolicyConfig",
        "PolicyName", "ProgramState", "make_policy", "policy_config"}


@pytest.mark.parametrize("name", ALL)
def test_make_policy_by_name_and_config(name: str) -> None:
    assert make_policy(name).name == name
    assert make_policy(PolicyConfig(name=name)).name == name


def test_default_policy_is_agentrt() -> None:
    assert make_policy(PolicyConfig()).name == "agentrt"


def test_unknown_policy_lists_valid_names() -> None:
    with pytest.raises(UnknownNameError) as err:
        make_policy("lottery")
    assert isinstance(err.value, ConfigError)
    assert str(err.value) == ("unknown policy 'lottery'; valid policies: "
                              "fcfs, plas, atlas, mlfq, continuum, agentrt, gittins, oracle")


@pytest.mark.parametrize(("settings", "needle"), [
    ({"num_queues": 0}, "num_queues"),
    ({"beta": 0.0}, "beta"),
    ({"beta": -1.0}, "beta"),
    ({"num_queues": 3, "boundaries": (2.0, 1.0)}, "boundaries=(2.0, 1.0) must be strictly increasing"),
    ({"num_queues": 3, "boundaries": (1.0, 1.0)}, "strictly increasing"),
    ({"num_queues": 3, "boundaries": (1.0,)}, "needs 2"),
    ({"num_queues": 2, "quanta": (1.0, 0.0)}, "quanta=(1.0, 0.0) must be > 0"),
    ({"mlfq_base_quantum": 0.0}, "mlfq_base_quantum"),
    ({"max_pinned_fraction": 1.5}, "max_pinned_fraction"),
    ({"queues": 3}, "queues"),
])
def test_invalid_config_names_the_value(settings: dict[str, object], needle: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        PolicyConfig(**settings)


def test_config_derived_defaults() -> None:
    config = PolicyConfig()
    assert config.queue_boundaries() == (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)
    assert config.queue_quanta() == (1.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, math.inf)
    assert config.mlfq_quanta() == (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8)
    explicit = PolicyConfig(num_queues=3, boundaries=(5.0, 50.0), quanta=(1.0, 2.0, 3.0))
    assert explicit.queue_boundaries() == (5.0, 50.0)
    assert explicit.queue_quanta() == (1.0, 2.0, 3.0)
    with pytest.raises(pydantic.ValidationError):
        explicit.beta = 2.0  # type: ignore[misc]  # frozen


# -- fcfs ---------------------------------------------------------------------------------------
def test_fcfs_orders_by_call_arrival_and_victim_is_latest() -> None:
    sched = make_scheduler("fcfs")
    a = submit(sched, "a", "big", 0.0, program_service=100.0)
    b = submit(sched, "b", "fresh", 1.0)
    c = submit(sched, "c", "big", 2.0, program_service=100.0)
    assert ids(sched.order_waiting(3.0)) == ["a", "b", "c"]
    assert sched.pick_victim([b, c, a]) is c
    assert sched.pick_victim([]) is None
    assert not sched.can_preempt(a, c)


# -- plas / atlas -------------------------------------------------------------------------------
def test_plas_program_with_more_service_yields_to_fresh_one() -> None:
    sched = make_scheduler("plas")
    old = submit(sched, "old", "p_old", 0.0, program_service=5.0)
    new = submit(sched, "new", "p_new", 1.0, program_service=0.0)
    assert (old.level, new.level) == (3, 0)  # 5 s lies in [4, 8): queue 3, not the top
    assert ids(sched.order_waiting(1.0)) == ["new", "old"]
    assert sched.pick_victim([new, old]) is old
    assert sched.can_preempt(new, old) and not sched.can_preempt(old, new)


def test_plas_ignores_atlas_priority_and_fifo_within_queue() -> None:
    sched = make_scheduler("plas")
    submit(sched, "a", "p1", 0.0, program_service=0.5, priority=50.0)
    submit(sched, "b", "p2", 1.0, program_service=0.2, priority=0.0)
    assert ids(sched.order_waiting(1.0)) == ["a", "b"]  # same queue [0, 1): FCFS


def test_atlas_orders_by_critical_path_priority_from_hints() -> None:
    # A fan-in call: the runtime's DAG gave it max over parents of p(k) + t(k) = 9.0 although its
    # program attained 30 s in total across parallel branches; atlas orders by the hint only.
    sched = make_scheduler("atlas")
    fan_in = submit(sched, "join", "wide", 0.0, program_service=30.0, priority=9.0)
    deep = submit(sched, "deep", "chain", 1.0, program_service=20.0, priority=20.0)
    root = submit(sched, "root", "fresh", 2.0, priority=0.0)
    assert (fan_in.level, deep.level, root.level) == (4, 5, 0)
    assert ids(sched.order_waiting(2.0)) == ["root", "join", "deep"]
    assert sched.pick_victim([root, deep, fan_in]) is deep


def test_atlas_demotes_after_quantum_and_reinserts_on_preemption() -> None:
    sched = make_scheduler("atlas")
    a = submit(sched, "a", "p1", 0.0)
    b = submit(sched, "b", "p2", 0.5)
    run(sched, a, 1.0, 1.0)  # exactly the quantum of queue 0: stays
    assert a.level == 0
    sched.on_iteration([a], 0.25)  # over it: demoted to queue 1
    assert (a.level, a.level_service, a.service) == (1, 0.0, 1.25)
    sched.on_preempted(a, 1.25)
    assert ids(sched.order_waiting(1.25)) == ["b", "a"]
    assert sched.statistics().num_demotions == 1


def test_last_queue_never_demotes() -> None:
    policy = make_policy_for("plas", num_queues=2, boundaries=(1.0,))
    call = make_call("c", level=1)
    assert not policy.account_service(call, 1000.0)
    assert call.level == 1


@pytest.mark.parametrize("name", ALL)
@given(levels=st.lists(st.integers(0, 7), min_size=1, max_size=6),
       durations=st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=40))
def test_account_iterations_equals_one_account_service_per_call_and_iteration(
        name: str, levels: list[int], durations: list[float]) -> None:
    """The hot loop (a decode span accounted at once) changes no float and no demotion."""
    policy = make_policy_for(name)
    top = len(getattr(policy, "quanta", (0.0,))) - 1
    one_by_one = [make_call(f"c{i}", level=min(level, top)) for i, level in enumerate(levels)]
    at_once = [make_call(f"c{i}", level=min(level, top)) for i, level in enumerate(levels)]
    demoted = [c.call_id for d in durations for c in one_by_one if policy.account_service(c, d)]
    assert sorted(c.call_id for c in policy.account_iterations(at_once, durations)) == sorted(demoted)
    assert [(c.service, c.level_service, c.ratio_service, c.level) for c in at_once] == \
        [(c.service, c.level_service, c.ratio_service, c.level) for c in one_by_one]


# -- mlfq ---------------------------------------------------------------------------------------
def test_mlfq_skip_join_puts_long_prefill_below_top() -> None:
    sched = make_scheduler("mlfq")
    short = submit(sched, "short", "p1", 0.0, prefill_time=0.05)
    edge = submit(sched, "edge", "p2", 0.0, prefill_time=0.2)
    long = submit(sched, "long", "p3", 0.0, prefill_time=0.5)
    huge = submit(sched, "huge", "p4", 0.0, prefill_time=1000.0)
    assert (short.level, edge.level, long.level, huge.level) == (0, 1, 3, 7)
    assert ids(sched.order_waiting(0.0)) == ["short", "edge", "long", "huge"]


def test_mlfq_is_per_call_and_demotes_on_quantum() -> None:
    sched = make_scheduler("mlfq")
    a = submit(sched, "a", "p1", 0.0, program_service=500.0)  # program service is ignored
    assert a.level == 0
    run(sched, a, 0.0, 0.15)
    assert a.level == 1
    sched.on_iteration([a], 0.15)
    assert a.level == 1  # 0.15 <= 0.2
    sched.on_iteration([a], 0.1)
    assert a.level == 2


def test_mlfq_promotes_after_starvation_limit() -> None:
    sched = make_scheduler("mlfq", mlfq_starvation_limit=10.0)
    a = submit(sched, "a", "p1", 0.0, prefill_time=1.0)
    b = submit(sched, "b", "p2", 5.0)
    assert a.level == 4
    assert ids(sched.order_waiting(9.99)) == ["b", "a"]
    assert ids(sched.order_waiting(10.0)) == ["a", "b"]
    assert (a.level, a.num_promotions) == (0, 1)


# -- continuum ----------------------------------------------------------------------------------
def test_continuum_orders_by_program_arrival_and_prefers_pinned() -> None:
    sched = make_scheduler("continuum")
    first = submit(sched, "p1-c1", "p1", 0.0)
    run(sched, first, 0.0, 0.5)
    ttl = sched.on_call_finished(first, 0.5, num_blocks=10, total_blocks=1000, free_blocks=900,
                                 wanted_blocks=0, reprefill_time=1.0)
    assert ttl == 0.0  # no gap samples yet
    submit(sched, "p2-c1", "p2", 1.0, program_arrival=1.0)
    submit(sched, "p3-c1", "p3", 2.0, program_arrival=0.2)
    submit(sched, "p1-c2", "p1", 3.0, program_arrival=0.0)
    assert ids(sched.order_waiting(3.0)) == ["p1-c2", "p3-c1", "p2-c1"]
    # now p4 finishes with a pin; its next call jumps ahead of older programs
    p4 = submit(sched, "p4-c1", "p4", 3.0, program_arrival=3.0, gap_samples=(1.0, 1.0, 1.0))
    run(sched, p4, 3.0, 0.5)
    assert sched.on_call_finished(p4, 3.5, num_blocks=10, total_blocks=1000, free_blocks=900,
                                  wanted_blocks=0, reprefill_time=1.0) == 1.0
    nxt = submit(sched, "p4-c2", "p4", 4.0, program_arrival=3.0)
    assert nxt.had_pin and "p4" in sched.pins  # until it is admitted
    assert ids(sched.order_waiting(4.0)) == ["p4-c2", "p1-c2", "p3-c1", "p2-c1"]


def test_continuum_never_preempts_for_waiting_and_victim_is_latest_program() -> None:
    sched = make_scheduler("continuum")
    old = submit(sched, "old", "p1", 5.0, program_arrival=0.0)
    new = submit(sched, "new", "p2", 1.0, program_arrival=1.0)
    assert not sched.can_preempt(old, new)
    assert sched.pick_victim([old, new]) is new


# -- agentrt ------------------------------------------------------------------------------------
def _pinned_and_two_more(sched: ProgramScheduler, *, memory_short: bool) -> tuple[CallState, ...]:
    """p2's first call finishes with a pin (memory short or not at that pin decision: the waiting
    calls want more, or fewer, blocks than are free); then p2's next call b2 (level 2, pinned),
    c (level 2) and heavy (level 6) arrive, heavy first."""
    b = submit(sched, "b", "p2", 1.0, priority=2.5, gap_samples=(0.5,) * 4)
    run(sched, b, 1.0, 0.4)
    assert sched.on_call_finished(b, 1.4, num_blocks=10, total_blocks=1000, free_blocks=900,
                                  wanted_blocks=950 if memory_short else 0, reprefill_time=1.0) == 0.5
    b2 = submit(sched, "b2", "p2", 1.8, priority=2.9, program_service=2.9)
    c = submit(sched, "c", "p3", 1.5, priority=3.5, program_service=3.5)
    heavy = submit(sched, "heavy", "p4", 0.5, priority=40.0, program_service=60.0)
    assert (b2.level, c.level, heavy.level) == (2, 2, 6)
    assert b2.had_pin and b2.memory_short == memory_short
    return b2, c, heavy


def test_agentrt_preempts_for_order_only_a_victim_that_has_attained_order_preemption_level() -> None:
    """docs/scheduling.md, "Ninth pass": a victim's program leaves the working set and waits at the gate; one
    that has attained little (queues 0-2 by default: < 4 s) is not preempted for a waiting call."""
    sched = short_of_memory(make_scheduler("agentrt"))
    young = submit(sched, "young", "p1", 0.0, priority=3.0, program_service=3.0)
    older = submit(sched, "older", "p2", 0.0, priority=5.0, program_service=5.0)
    top = submit(sched, "top", "p3", 1.0)
    assert (top.level, young.level, older.level) == (0, 2, 3)
    assert sched.can_preempt(top, older) and not sched.can_preempt(top, young)
    assert sched.can_preempt(young, older) and not sched.can_preempt(older, top)  # otherwise as before
    anyone = short_of_memory(make_scheduler("agentrt", order_preemption_level=None))
    young = submit(anyone, "young", "p1", 0.0, priority=3.0, program_service=3.0)
    top = submit(anyone, "top", "p3", 1.0)
    assert anyone.can_preempt(top, young)
    two_queues = short_of_memory(make_scheduler("agentrt", num_queues=2, boundaries=(1.0,)))  # level 3: the last
    low = submit(two_queues, "low", "p1", 0.0, priority=3.0, program_service=3.0)
    top = submit(two_queues, "top", "p3", 1.0)
    assert low.level == 1 and two_queues.can_preempt(top, low)


def test_agentrt_is_atlas_with_pinned_first_within_a_queue_while_memory_is_short() -> None:
    sched = make_scheduler("agentrt")
    a = submit(sched, "a", "p1", 0.0, priority=0.1)
    b2, c, heavy = _pinned_and_two_more(sched, memory_short=True)
    assert ids(sched.order_waiting(2.0)) == ["a", "b2", "c", "heavy"]
    assert sched.can_preempt(a, heavy) and not sched.can_preempt(b2, c)
    assert a.level == 0 and sched.pick_victim([a, c, heavy]) is heavy


def test_agentrt_orders_by_arrival_while_memory_is_not_short() -> None:
    """On an engine bound by batch slots, not memory, neither the pinned program (it kept the
    slots: 1.33-1.43x fcfs) nor least-attained-service (1.09x) goes first (README)."""
    sched = make_scheduler("agentrt")
    _pinned_and_two_more(sched, memory_short=False)
    assert ids(sched.order_waiting(2.0)) == ["heavy", "c", "b2"]  # by arrival: levels apply only while memory is short


def test_agentrt_atlas_always_orders_by_level_and_pin_without_memory_pressure() -> None:
    sched = make_scheduler("agentrt", atlas_always=True)
    _pinned_and_two_more(sched, memory_short=False)
    assert ids(sched.order_waiting(2.0)) == ["b2", "c", "heavy"]  # level, then the pinned program first


def test_agentrt_without_pinned_first_orders_a_queue_by_program_arrival() -> None:
    """b2's program arrived at 1.0 s (its first call, b), c's at 1.5 s: b2 goes first, pinned or not
    (until session 8 a queue went by call arrival, c at 1.5 s before b2 at 1.8 s: "Tenth pass")."""
    sched = make_scheduler("agentrt", pinned_first=False)
    _pinned_and_two_more(sched, memory_short=True)
    assert ids(sched.order_waiting(2.0)) == ["b2", "c", "heavy"]


def test_agentrt_orders_a_queue_by_program_arrival_while_memory_is_short() -> None:
    """docs/scheduling.md, "Tenth pass": inside an ATLAS queue the call of the program that arrived
    first goes first (continuum's program-level FCFS), not the call that arrived first: by call
    arrival a program's next call queued behind the first calls of programs that arrived during its
    tool call, and agentrt lost to fcfs on the small CPU caches."""
    sched = short_of_memory(make_scheduler("agentrt", pinned_first=False))
    submit(sched, "new", "p_new", 2.0, program_arrival=2.0)
    submit(sched, "old", "p_old", 3.0, program_arrival=0.0)  # its second call: back from a tool call
    assert ids(sched.order_waiting(3.0)) == ["old", "new"]
    calm = make_scheduler("agentrt", pinned_first=False)  # memory not short: by call arrival, as before
    submit(calm, "new", "p_new", 2.0, program_arrival=2.0)
    submit(calm, "old", "p_old", 3.0, program_arrival=0.0)
    assert ids(calm.order_waiting(3.0)) == ["new", "old"]


def _known_long_and_new(sched: ProgramScheduler) -> None:
    """While memory is short: a new program (level 0) and three long ones whose programs have
    attained 10 s, 100 s and 40 s (levels 4, 7, 6 by their critical-path priority)."""
    short_of_memory(sched)
    submit(sched, "new", "p0", 1.0)
    submit(sched, "ten", "p1", 2.0, priority=10.0, program_service=10.0)
    submit(sched, "hundred", "p2", 3.0, priority=100.0, program_service=100.0)
    submit(sched, "forty", "p3", 4.0, priority=40.0, program_service=40.0)


def test_agentrt_orders_known_long_programs_by_most_attained_service_first() -> None:
    """Past the short programs' sizes a program is a long one, likelier near its end the more it
    has run (docs/scheduling.md, "Ordering known-long programs"); a new program (maybe short) still goes first."""
    sched = make_scheduler("agentrt")  # nearest_end_level 6: attained >= 32 s
    _known_long_and_new(sched)
    assert ids(sched.order_waiting(5.0)) == ["new", "ten", "hundred", "forty"]


def test_agentrt_without_nearest_end_level_is_least_attained_first() -> None:
    sched = make_scheduler("agentrt", nearest_end_level=None)
    _known_long_and_new(sched)
    assert ids(sched.order_waiting(5.0)) == ["new", "ten", "forty", "hundred"]


def test_agentrt_order_preemption_level_reads_the_victims_attained_service_not_its_promoted_queue() -> None:
    """docs/scheduling.md, "Ninth pass": anti-starvation promotes a call that waited long to the top queue
    whatever its program attained; such a program is no young one, and may be preempted for order."""
    sched = short_of_memory(make_scheduler("agentrt", beta=4.0))
    old = submit(sched, "old", "p_old", 0.0, program_service=5.0, priority=5.0)
    assert old.level == 3
    sched.order_waiting(20.0)  # waited 4x its 5 s: promoted to the top queue
    run(sched, old, 20.0, 1.5)  # over queue 0's 1 s quantum: queue 1
    top = submit(sched, "top", "p_new", 21.5)
    assert (top.level, old.level, old.num_promotions) == (0, 1, 1)
    assert sched.can_preempt(top, old)
    young = submit(sched, "young", "p_young", 21.5, program_service=3.0, priority=3.0)
    assert young.level == 2 and not sched.can_preempt(top, young)


def test_agentrt_decode_spans_account_a_call_before_its_attained_service_reaches_order_preemption_level() -> None:
    """`can_preempt_for` reads the victim's attained service, so a decode span may account a call
    lazily only while that stays under `order_preemption_level`'s boundary (4 s by default): a
    call at 3.9 s can take one 0.05 s step (3.95 s) but not two (4.0 s). Without this the
    fast-forwarded engine decided preemptions on stale service (test_sim_span.py)."""
    policy = make_policy_for("agentrt")
    call = make_call("c", level=3, program_service=3.9, priority=3.9)
    assert policy.steps_without_level_change([call], [0.05] * 10) == [1]
    done = make_call("d", level=3, program_service=4.5, priority=4.5)  # past it: only the queues' rule
    assert policy.steps_without_level_change([done], [0.05] * 10) == make_policy_for(
        "agentrt", order_preemption_level=None).steps_without_level_change([done], [0.05] * 10)
