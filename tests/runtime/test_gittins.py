"""The Gittins index over the learned service distribution, and the order it gives."""

from __future__ import annotations

import pytest

from agentrt.engine_adapters.base import SchedHints
from agentrt.runtime.scheduling.policies import PolicyConfig
from agentrt.runtime.scheduling.policies.gittins import MIN_SAMPLES, ServiceDistribution
from agentrt.runtime.scheduling.scheduler import ProgramScheduler


def test_index_on_a_short_and_long_mix() -> None:
    dist = ServiceDistribution()
    for s in (1.0, 1.0, 1.0, 10.0):
        dist.add(s)
    assert dist.gittins_index(0.0) == pytest.approx(3 / 4)  # stop after the short ones: 3 done in 4 s
    assert dist.gittins_index(2.0) == pytest.approx(1 / 8)  # known long: 8 s to go
    assert dist.gittins_index(9.0) == pytest.approx(1.0)  # long, nearly done
    assert dist.gittins_index(11.0) == 0.0  # past every finished program


def test_window_forgets_the_oldest() -> None:
    dist = ServiceDistribution(window=2)
    for s in (100.0, 1.0, 2.0):
        dist.add(s)
    assert len(dist) == 2 and dist.gittins_index(0.0) == pytest.approx(2 / 3)


def test_orders_a_nearly_done_long_program_before_a_new_one_before_a_young_long_one() -> None:
    sched = ProgramScheduler(PolicyConfig(name="gittins", residency_fraction=None))
    for i in range(MIN_SAMPLES):  # programs end: 3 of 4 after 1 s, the rest after 10 s
        pid = f"done{i}"
        sched.add_call(f"c{i}", pid, SchedHints(program_arrival=0.0), 0.0)
        sched.programs[pid].service = 10.0 if i % 4 == 3 else 1.0
        sched.remove_call(f"c{i}", 0.0)
        sched.release_program(pid)
    sched.add_call("young", "Y", SchedHints(program_service=2.0), 1.0)
    sched.add_call("new", "N", SchedHints(), 2.0)
    sched.add_call("old", "O", SchedHints(program_service=9.0), 3.0)
    assert [c.call_id for c in sched.order_waiting(3.0)] == ["old", "new", "young"]
