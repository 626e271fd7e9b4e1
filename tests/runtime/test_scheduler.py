"""ProgramScheduler: call lifecycle, pins and their release, statistics."""

from __future__ import annotations

import pytest

from agentrt.exceptions import UnknownNameError
from agentrt.runtime.scheduling.policies import CallPhase
from agentrt.runtime.scheduling.scheduler import ProgramScheduler
from factories import finish, ids, make_scheduler, run, submit

SHORT_TOOL = (0.5, 1.0, 1.5)
LONG_TOOL = (30.0, 40.0, 50.0)


def test_constructor_accepts_name_and_rejects_unknown() -> None:
    assert ProgramScheduler().policy.name == "agentrt"
    assert ProgramScheduler("mlfq").policy.name == "mlfq"
    with pytest.raises(UnknownNameError, match="valid policies: fcfs"):
        ProgramScheduler("sjf")


def test_phases_follow_admission_and_preemption() -> None:
    sched = make_scheduler("fcfs")
    a = submit(sched, "a", "p", 0.0)
    b = submit(sched, "b", "q", 1.0)
    sched.on_scheduled(a, 2.0)
    assert a.phase is CallPhase.RUNNING and ids(sched.order_waiting(2.0)) == ["b"]
    sched.on_iteration([a], 0.5)
    sched.on_preempted(a, 2.5)
    assert ids(sched.order_waiting(2.5)) == ["a", "b"]
    sched.on_scheduled(a, 3.0)
    assert (a.total_wait, a.num_preemptions, a.service) == (2.5, 1, 0.5)
    assert sched.remove_call("b", 4.0) is b and b.total_wait == 3.0
    assert sched.programs["q"].wait == 3.0
    assert sched.remove_call("b") is None
    with pytest.raises(ValueError, match="already registered"):
        submit(sched, "a", "p", 5.0)


def test_ttl_zero_for_long_tool_positive_for_short_under_demand() -> None:
    # kv_share 0.01, demand 2000/100 capped at 10: c = 0.01 * 10.01; B = 1 s -> break-even ~10 s
    for samples, expected in ((LONG_TOOL, 0.0), (SHORT_TOOL, 1.5)):
        sched = make_scheduler("agentrt")
        call = submit(sched, "c", "p", 0.0, gap_samples=samples)
        run(sched, call, 0.0, 1.0)
        assert finish(sched, call, 1.0, free_blocks=100, wanted_blocks=2000) == expected
        assert ("p" in sched.pins) == (expected > 0)


def test_ttl_grows_when_memory_is_idle() -> None:
    sched = make_scheduler("continuum")
    call = submit(sched, "c", "p", 0.0, gap_samples=LONG_TOOL)
    assert finish(sched, call, 1.0, free_blocks=900, wanted_blocks=0) == 50.0  # c = 0.01 * 0.01


@pytest.mark.parametrize("policy", ["fcfs", "plas", "atlas", "mlfq"])
def test_policies_without_pinning_never_pin(policy: str) -> None:
    sched = make_scheduler(policy)
    call = submit(sched, "c", "p", 0.0, gap_samples=SHORT_TOOL)
    assert finish(sched, call, 1.0) == 0.0 and len(sched.pins) == 0


def _pinned(policy: str = "agentrt", program: str = "p", now: float = 0.0, **settings: float) -> ProgramScheduler:
    sched = make_scheduler(policy, **settings)
    call = submit(sched, f"{program}-1", program, now, gap_samples=SHORT_TOOL)
    assert finish(sched, call, now + 1.0) == 1.5
    return sched


def test_pin_ends_when_the_next_call_is_admitted_not_when_it_arrives() -> None:
    sched = _pinned()
    nxt = submit(sched, "p-2", "p", 2.0)
    assert nxt.had_pin and "p" in sched.pins  # waiting: the pin still protects the blocks
    assert sched.statistics().num_pin_hits == 0
    assert sched.on_scheduled(nxt, 2.1) is True  # admitted: the engine unpins
    assert "p" not in sched.pins and sched.statistics().num_pin_hits == 1
    assert sched.expire_pins(10.0) == []


def test_a_pin_whose_next_call_waits_past_the_ttl_expires() -> None:
    sched = _pinned()
    nxt = submit(sched, "p-2", "p", 2.0)
    assert sched.expire_pins(2.5) == ["p"]
    assert sched.on_scheduled(nxt, 3.0) is False and sched.statistics().num_pin_hits == 0


def test_pin_released_when_program_ends() -> None:
    sched = _pinned()
    assert sched.release_program("p") is True
    assert "p" not in sched.pins and "p" not in sched.programs
    assert sched.release_program("p") is False


def test_pin_released_on_expiry() -> None:
    sched = _pinned()
    assert sched.pins.get("p").expires_at == 2.5  # type: ignore[union-attr]
    assert sched.expire_pins(2.49) == []
    assert sched.expire_pins(2.5) == ["p"]
    assert "p" not in sched.pins and sched.statistics().num_pins_expired == 1
    assert not submit(sched, "p-2", "p", 3.0).had_pin


def test_update_pin_when_tool_becomes_known() -> None:
    sched = _pinned()
    kw = dict(total_blocks=1000, free_blocks=500, wanted_blocks=0, reprefill_time=1.0)
    assert sched.update_pin("p", (3.0, 3.0, 3.0), 1.2, **kw) == 3.0
    assert sched.pins.get("p").expires_at == 4.0  # type: ignore[union-attr]  # counted from the pin's start
    assert sched.expire_pins(2.5) == []  # the old expiry entry is stale
    assert sched.update_pin("p", (0.1,), 1.2, **kw) == 0.0  # would already have run out
    assert "p" not in sched.pins
    assert sched.update_pin("p", (3.0,), 1.2, **kw) is None


def test_update_pin_releases_for_long_tool() -> None:
    sched = _pinned()
    assert sched.update_pin("p", LONG_TOOL, 1.2, total_blocks=1000, free_blocks=100,
                            wanted_blocks=2000, reprefill_time=1.0) == 0.0
    assert "p" not in sched.pins


def _three_pins(policy: str) -> ProgramScheduler:
    sched = make_scheduler(policy)
    for pid, arrival, service in (("early", 0.0, 50.0), ("mid", 1.0, 5.0), ("late", 2.0, 20.0)):
        call = submit(sched, pid, pid, arrival, program_service=service, gap_samples=SHORT_TOOL)
        assert finish(sched, call, 3.0, num_blocks=10) > 0
    return sched


def test_agentrt_releases_highest_service_pins_first() -> None:
    sched = _three_pins("agentrt")
    assert sched.pins_to_release(15) == ["early", "late"]
    assert list(sched.pins.pins) == ["mid"] and sched.pins.num_blocks == 10
    assert sched.pins_to_release(0) == []


def test_continuum_releases_last_arrived_program_first() -> None:
    sched = _three_pins("continuum")
    assert sched.pins_to_release(1) == ["late"]
    assert sched.pins_to_release(20) == ["mid", "early"]
    assert sched.statistics().num_pins_released == 3


def test_agentrt_bounds_pinned_share_continuum_does_not() -> None:
    for policy, expected in (("agentrt", 0.0), ("continuum", 1.5)):
        sched = make_scheduler(policy, max_pinned_fraction=0.5)
        big = submit(sched, "a", "p1", 0.0, gap_samples=SHORT_TOOL)
        assert finish(sched, big, 1.0, num_blocks=40, total_blocks=100, free_blocks=60) == 1.5
        more = submit(sched, "b", "p2", 0.0, gap_samples=SHORT_TOOL)
        assert finish(sched, more, 1.0, num_blocks=20, total_blocks=100, free_blocks=60) == expected
    assert make_scheduler("agentrt").policy.max_pinned_share() == 0.5


def test_release_program_with_live_calls_forgets_it_after_the_last() -> None:
    sched = make_scheduler("plas")
    a = submit(sched, "a", "p", 0.0)
    sched.release_program("p")
    assert "p" in sched.programs
    run(sched, a, 0.0, 0.5)
    finish(sched, a, 1.0)
    assert "p" not in sched.programs


def test_statistics_are_a_frozen_snapshot() -> None:
    sched = _pinned()
    submit(sched, "q-1", "q", 2.0)
    stats = sched.statistics()
    assert (stats.num_programs, stats.num_waiting, stats.num_running, stats.num_pins, stats.pinned_blocks,
            stats.num_pins_created) == (2, 1, 0, 1, 10, 1)
    with pytest.raises(AttributeError):
        stats.num_pins = 3  # type: ignore[misc]
