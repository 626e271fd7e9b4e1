"""The scheduler's decision log on hand-built states: the decisions the parity scenario does not
reach (a pin refused, a pin dropped by a tool hint and by the program's end), and no log by default."""

from __future__ import annotations

from agentrt.runtime.scheduling import (Decision, DecisionKind, DecisionLog, PolicyConfig, ProgramScheduler,
                                        SchedHints)

K = DecisionKind
POLICY = PolicyConfig(name="agentrt", pin_idle_cost=0.0, max_pinned_fraction=0.5, residency_fraction=None)


def finish(scheduler: ProgramScheduler, call_id: str, now: float, num_blocks: int) -> float:
    """Run one call of program `call_id[0]` from arrival to finish; returns its pin's TTL."""
    call = scheduler.add_call(call_id, call_id[0], SchedHints(gap_samples=(5.0,)), now)
    scheduler.on_scheduled(call, now)
    return scheduler.on_call_finished(call, now + 1, num_blocks=num_blocks, total_blocks=100, free_blocks=100,
                                      wanted_blocks=0, reprefill_time=1.0)


def test_pins_refused_and_dropped_are_logged_in_order() -> None:
    log = DecisionLog()
    scheduler = ProgramScheduler(POLICY, decisions=log)
    assert finish(scheduler, "a1", 0.0, 40) == 5.0
    assert finish(scheduler, "b1", 1.0, 20) == 0.0  # 40 + 20 > half of 100 blocks
    assert scheduler.update_pin("a", (), 3.0, total_blocks=100, free_blocks=100, wanted_blocks=0,
                                reprefill_time=1.0) == 0.0  # no gap expected any more: the pin goes
    assert finish(scheduler, "a2", 4.0, 30) == 5.0
    assert scheduler.release_program("a") and not scheduler.release_program("b")
    assert log.since(0) == [
        Decision(K.ARRIVED, "a", "a1"), Decision(K.ADMITTED, "a", "a1"), Decision(K.FINISHED, "a", "a1"),
        Decision(K.PIN_GRANTED, "a", ttl=5.0),
        Decision(K.ARRIVED, "b", "b1"), Decision(K.ADMITTED, "b", "b1"), Decision(K.FINISHED, "b", "b1"),
        Decision(K.PIN_REFUSED, "b"),
        Decision(K.PIN_DROPPED, "a"),
        Decision(K.ARRIVED, "a", "a2"), Decision(K.ADMITTED, "a", "a2"), Decision(K.FINISHED, "a", "a2"),
        Decision(K.PIN_GRANTED, "a", ttl=5.0),
        Decision(K.PIN_DROPPED, "a"), Decision(K.ENDED, "a"), Decision(K.ENDED, "b")]
    assert log.since(len(log) - 2) == [Decision(K.ENDED, "a"), Decision(K.ENDED, "b")]
    assert [Decision.from_list(d.as_list()) for d in log.since(0)] == log.since(0)  # as it crosses to the plugin


def test_no_log_unless_asked() -> None:
    scheduler = ProgramScheduler(POLICY)
    finish(scheduler, "a1", 0.0, 10)
    assert scheduler.decisions is None
