"""The clairvoyant oracle: shortest remaining work first, in the queue and at admission."""

from __future__ import annotations

from agentrt.engine_adapters.base import SchedHints
from agentrt.runtime.scheduling.policies import PolicyConfig
from agentrt.runtime.scheduling.scheduler import ProgramScheduler


def arrive(sched: ProgramScheduler, call_id: str, program_id: str, now: float, tokens: int,
           remaining: float | None) -> None:
    sched.add_call(call_id, program_id, SchedHints(program_arrival=now, remaining_work=remaining), now,
                   num_prompt_tokens=tokens)


def order(sched: ProgramScheduler, now: float) -> list[str]:
    return [c.call_id for c in sched.order_waiting(now)]


def test_orders_by_remaining_work_and_unknown_work_sorts_last() -> None:
    sched = ProgramScheduler(PolicyConfig(name="oracle", residency_fraction=None))
    arrive(sched, "long", "L", 0.0, 100, 5000)
    arrive(sched, "unknown", "U", 1.0, 100, None)
    arrive(sched, "short", "S", 2.0, 100, 40)
    assert order(sched, 2.0) == ["short", "long", "unknown"]


def test_admits_the_shortest_program_to_the_working_set_first() -> None:
    sched = ProgramScheduler(PolicyConfig(name="oracle", residency_fraction=0.5), kv_capacity_tokens=1000)
    arrive(sched, "a", "A", 0.0, 300, 100)  # resident (first)
    arrive(sched, "big", "B", 1.0, 150, 9000)
    arrive(sched, "small", "C", 2.0, 150, 10)  # only one of B, C fits beside A
    assert order(sched, 2.0) == ["small", "a"]
    assert not sched.programs["B"].resident


def test_preempts_only_for_much_less_remaining_work() -> None:
    sched = ProgramScheduler(PolicyConfig(name="oracle"))
    arrive(sched, "v", "V", 0.0, 10, 1000)
    arrive(sched, "near", "N", 0.0, 10, 600)
    arrive(sched, "far", "F", 0.0, 10, 400)
    victim, near, far = (sched.calls[c] for c in ("v", "near", "far"))
    assert not sched.can_preempt(near, victim)
    assert sched.can_preempt(far, victim)
