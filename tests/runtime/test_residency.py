"""agentrt's residency gating: new programs join the KV working set only while it fits."""

from __future__ import annotations

import pytest

from agentrt.engine_adapters.base import SchedHints
from agentrt.runtime.scheduling.policies import PolicyConfig
from agentrt.runtime.scheduling.scheduler import ProgramScheduler


def arrive(sched: ProgramScheduler, call_id: str, program_id: str, now: float, tokens: int) -> None:
    sched.add_call(call_id, program_id, SchedHints(program_arrival=now), now, num_prompt_tokens=tokens)


def ids(sched: ProgramScheduler, now: float) -> list[str]:
    return [c.call_id for c in sched.order_waiting(now)]


def test_new_program_waits_until_the_working_set_has_room() -> None:
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=0.5), kv_capacity_tokens=1000)
    arrive(sched, "a1", "A", 0.0, 400)
    arrive(sched, "b1", "B", 1.0, 300)  # 400 + 300 > 0.5 * 1000: B is held back
    assert ids(sched, 1.0) == ["a1"]
    assert sched.num_waiting == 2
    a1 = sched.calls["a1"]
    sched.on_scheduled(a1, 1.0)
    sched.remove_call("a1", 2.0)
    arrive(sched, "a2", "A", 3.0, 450)  # A's context grew: still resident, B still waits
    assert ids(sched, 3.0) == ["a2"]
    sched.remove_call("a2", 4.0)
    sched.release_program("A")  # A ended: B joins
    assert ids(sched, 4.0) == ["b1"]
    assert sched.programs["B"].resident


def test_first_program_always_passes_and_small_ones_fill_the_budget() -> None:
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=0.5), kv_capacity_tokens=1000)
    arrive(sched, "big", "P", 0.0, 5000)  # larger than the budget, but nothing is resident
    arrive(sched, "q", "Q", 1.0, 10)
    assert ids(sched, 1.0) == ["big"]


def test_other_policies_do_not_gate() -> None:
    for name in ("fcfs", "plas", "atlas", "mlfq", "continuum"):
        sched = ProgramScheduler(PolicyConfig(name=name, residency_fraction=0.1), kv_capacity_tokens=1000)
        arrive(sched, "a", "A", 0.0, 900)
        arrive(sched, "b", "B", 0.0, 900)
        assert sorted(ids(sched, 0.0)) == ["a", "b"], name


def test_an_idle_resident_program_leaves_when_a_new_one_waits() -> None:
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=0.5, residency_idle_s=10.0),
                             kv_capacity_tokens=1000)
    arrive(sched, "a1", "A", 0.0, 400)
    assert ids(sched, 0.0) == ["a1"]
    sched.on_scheduled(sched.calls["a1"], 0.0)
    sched.remove_call("a1", 1.0)  # A parks in a long tool call, no pin
    arrive(sched, "b1", "B", 2.0, 300)
    assert sched.next_wakeup() == 11.0  # an idle engine must wake then, with nothing arriving
    assert ids(sched, 5.0) == []  # A idle for 4 s < 10 s: B waits
    assert ids(sched, 11.0) == ["b1"]  # A idle for 10 s: it leaves, B joins
    assert not sched.programs["A"].resident and sched.programs["B"].resident
    assert sched.next_wakeup() == float("inf")  # nothing waits outside the working set


def test_gating_off() -> None:
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=None), kv_capacity_tokens=1000)
    arrive(sched, "a", "A", 0.0, 900)
    arrive(sched, "b", "B", 0.0, 900)
    assert sorted(ids(sched, 0.0)) == ["a", "b"]


def test_preemption_shrinks_the_working_set() -> None:
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=0.5), kv_capacity_tokens=1000)
    arrive(sched, "a1", "A", 0.0, 100)
    arrive(sched, "b1", "B", 0.0, 100)
    assert ids(sched, 0.0) == ["a1", "b1"]
    for call_id in ("a1", "b1"):
        sched.on_scheduled(sched.calls[call_id], 0.0)
    sched.remove_call("a1", 1.0)
    arrive(sched, "a2", "A", 1.0, 420)  # A's context grew: 420 + 100 > 500
    sched.on_preempted(sched.calls["b1"], 2.0)  # memory ran short: B leaves the working set
    assert not sched.programs["B"].resident and sched.programs["A"].resident
    assert ids(sched, 2.0) == ["a2"]  # B waits for room instead of thrashing with A
    sched.remove_call("a2", 3.0)
    sched.release_program("A")
    assert ids(sched, 3.0) == ["b1"]


def test_small_programs_pass_a_large_one_that_does_not_fit_until_it_has_waited_long_enough() -> None:
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=0.5, residency_backfill_s=30.0),
                             kv_capacity_tokens=1000)
    arrive(sched, "a1", "A", 0.0, 300)  # resident
    arrive(sched, "big", "B", 1.0, 400)  # 300 + 400 > 500: does not fit
    arrive(sched, "s1", "S", 2.0, 100)  # fits beside A: admitted past B
    assert ids(sched, 2.0) == ["a1", "s1"]
    assert sched.programs["S"].resident and not sched.programs["B"].resident
    arrive(sched, "t1", "T", 40.0, 50)  # B has waited 39 s >= 30 s: T waits behind it
    assert ids(sched, 40.0) == ["a1", "s1"]
    assert not sched.programs["T"].resident


def test_strict_order_without_backfill() -> None:
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=0.5, residency_backfill_s=0.0),
                             kv_capacity_tokens=1000)
    arrive(sched, "a1", "A", 0.0, 300)
    arrive(sched, "big", "B", 1.0, 400)
    arrive(sched, "s1", "S", 2.0, 100)
    assert ids(sched, 2.0) == ["a1"]


def test_statistics_count_the_programs_gating_holds_back() -> None:
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=0.5), kv_capacity_tokens=1000)
    arrive(sched, "a1", "A", 0.0, 400)
    arrive(sched, "b1", "B", 1.0, 300)
    arrive(sched, "b2", "B", 1.0, 300)  # a parallel branch of B: one program held back, not two
    arrive(sched, "c1", "C", 2.0, 200)
    assert ids(sched, 2.0) == ["a1"]
    assert sched.statistics().num_gated_programs == 2
    sched.remove_call("a1", 3.0)
    sched.release_program("A")
    assert ids(sched, 3.0) == ["b1", "b2", "c1"]
    assert sched.statistics().num_gated_programs == 0


# -- beside a host KV tier (tier-aware gating) --------------------------------------------------
def test_the_gate_budgets_the_host_tier_when_it_is_larger_than_the_gpu_cache() -> None:
    """A context the GPU cannot hold comes back from the host over PCIe, not by a re-prefill, so
    the working set may grow to the memory within reach: the write-through tier holds the GPU's
    contexts too, so that is the larger of the two, not their sum."""
    config = PolicyConfig(name="agentrt", residency_fraction=0.5)
    for host_tokens, admitted in ((0, ["a1"]), (1000, ["a1"]), (2000, ["a1", "b1"])):
        sched = ProgramScheduler(config, kv_capacity_tokens=1000, host_kv_capacity_tokens=host_tokens)
        arrive(sched, "a1", "A", 0.0, 400)
        arrive(sched, "b1", "B", 1.0, 300)  # 700 > 0.5 * 1000, but <= 0.5 * 2000
        assert ids(sched, 1.0) == admitted, host_tokens


def test_a_negative_host_tier_is_refused() -> None:
    with pytest.raises(ValueError, match="host_kv_capacity_tokens must be >= 0"):
        ProgramScheduler("agentrt", kv_capacity_tokens=1000, host_kv_capacity_tokens=-1)


def finish(sched: ProgramScheduler, call_id: str, now: float, reprefill_time: float) -> None:
    """`call_id` runs from `now` - 1 and finishes at `now`; re-prefilling its context would take
    `reprefill_time` (no gap samples: no pin)."""
    call = sched.calls[call_id]
    sched.on_scheduled(call, now - 1.0)
    sched.on_call_finished(call, now, num_blocks=10, total_blocks=100, free_blocks=90, wanted_blocks=0,
                           reprefill_time=reprefill_time)


def test_an_idle_resident_program_leaves_after_its_reprefill_time_times_the_factor() -> None:
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=0.5, residency_idle_reprefill=16.0),
                             kv_capacity_tokens=1000)
    arrive(sched, "a1", "A", 0.0, 400)
    assert ids(sched, 0.0) == ["a1"]
    finish(sched, "a1", 1.0, reprefill_time=0.25)  # A parks in a tool call; its context rebuilds in 0.25 s
    arrive(sched, "b1", "B", 2.0, 300)
    assert sched.next_wakeup() == 1.0 + 16 * 0.25  # not residency_idle_s (60 s) after
    assert ids(sched, 4.9) == []
    assert ids(sched, 5.0) == ["b1"]
    assert not sched.programs["A"].resident and sched.programs["B"].resident


def test_a_context_dear_to_rebuild_stays_until_residency_idle_s() -> None:
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=0.5, residency_idle_s=10.0,
                                          residency_idle_reprefill=16.0), kv_capacity_tokens=1000)
    arrive(sched, "a1", "A", 0.0, 400)
    ids(sched, 0.0)
    finish(sched, "a1", 1.0, reprefill_time=2.0)  # 16 x 2 s > 10 s: the fixed limit is sooner
    arrive(sched, "b1", "B", 2.0, 300)
    assert sched.next_wakeup() == 11.0
    assert ids(sched, 10.9) == [] and ids(sched, 11.0) == ["b1"]


def test_without_the_factor_only_residency_idle_s_releases() -> None:
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=0.5, residency_idle_s=10.0,
                                          residency_idle_reprefill=None), kv_capacity_tokens=1000)
    arrive(sched, "a1", "A", 0.0, 400)
    ids(sched, 0.0)
    finish(sched, "a1", 1.0, reprefill_time=0.01)
    arrive(sched, "b1", "B", 2.0, 300)
    assert sched.next_wakeup() == 11.0
    assert ids(sched, 10.9) == [] and ids(sched, 11.0) == ["b1"]


def test_the_reprefill_release_waits_while_it_would_admit_nobody() -> None:
    """Held-out H100 cell (docs/scheduling.md, "Eighth pass", A3): 8 of 11 releases there admitted nobody and
    sent the released program behind the gate. Within the cache, the early release happens only
    when the smallest gated program then fits; `residency_idle_s` still releases unconditionally."""
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=0.5, residency_idle_s=10.0,
                                          residency_idle_reprefill=16.0), kv_capacity_tokens=1000)
    arrive(sched, "a1", "A", 0.0, 100)
    arrive(sched, "c1", "C", 0.0, 350)
    assert ids(sched, 0.0) == ["a1", "c1"]
    finish(sched, "a1", 1.0, reprefill_time=0.1)  # A idle, due at 2.6; C still runs
    sched.on_scheduled(sched.calls["c1"], 0.5)
    arrive(sched, "b1", "B", 2.0, 450)  # 450 - 100 + 350 > 500: B would not fit with A gone
    assert sched.next_wakeup() == 11.0  # not 2.6: that release would admit nobody
    assert ids(sched, 5.0) == [] and sched.programs["A"].resident
    arrive(sched, "d1", "D", 6.0, 120)  # 350 + 120 <= 500 with A gone: now A's release admits D
    assert sched.next_wakeup() == 2.6
    assert ids(sched, 6.0) == ["d1"] and not sched.programs["A"].resident


def test_the_reprefill_release_is_unconditional_when_the_working_set_overflows_the_cache() -> None:
    """The calibrated CPU settings (12 programs, 36 blocks): resident contexts grew to 1.6-1.8x the
    cache; each early release there shrinks a thrashing working set, which is where k = 16 won."""
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=0.5, residency_idle_s=10.0,
                                          residency_idle_reprefill=16.0), kv_capacity_tokens=1000)
    arrive(sched, "a1", "A", 0.0, 100)
    arrive(sched, "c1", "C", 0.0, 350)
    ids(sched, 0.0)
    finish(sched, "a1", 1.0, reprefill_time=0.1)
    sched.on_scheduled(sched.calls["c1"], 0.5)
    arrive(sched, "c2", "C", 1.5, 1000)  # C's context grows past the cache: 1100 resident > 1000
    arrive(sched, "b1", "B", 2.0, 450)
    assert sched.next_wakeup() == 2.6
    ids(sched, 2.6)
    assert not sched.programs["A"].resident and not sched.programs["B"].resident


def test_a_held_door_does_not_wake_the_engine_for_a_release_that_admits_nobody() -> None:
    """Session 7 (docs/scheduling.md, "Ninth pass"): the gate holds the door for a head that has waited
    `residency_backfill_s`, while a smaller gated program would fit even with every resident still
    in. `_evict_idle` then releases nobody (the smallest already fits), so the next idle release
    is not due before `residency_idle_s`; `next_wakeup` used to name the early due time, already
    past, and an idle simulated engine woke at that same instant forever."""
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=0.5, residency_idle_s=10.0,
                                          residency_idle_reprefill=16.0, residency_backfill_s=1.0),
                             kv_capacity_tokens=1000)
    arrive(sched, "a1", "A", 0.0, 100)
    arrive(sched, "c1", "C", 0.0, 250)
    assert ids(sched, 0.0) == ["a1", "c1"]
    finish(sched, "a1", 1.0, reprefill_time=0.1)  # A idle: its early release is due at 2.6
    finish(sched, "c1", 1.2, reprefill_time=1.0)  # C idle: due at 17.2, after its fixed limit (11.2)
    arrive(sched, "h1", "H", 1.5, 240)  # 350 + 240 > 500: H waits; from 2.5 the door is held for it
    arrive(sched, "s1", "S", 3.0, 100)  # 350 + 100 <= 500: S fits, but waits behind the held door
    assert ids(sched, 3.0) == []
    assert sched.programs["A"].resident  # releasing A would admit nobody: it stays
    assert sched.next_wakeup() == 11.0  # A's fixed limit; not 2.6, which is already past
    assert ids(sched, 11.0) == ["h1"]  # A leaves at its fixed limit: 250 + 240 <= 500
