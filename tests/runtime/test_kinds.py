"""agentrt's gate by program kind: kinds known to be short join the working set first (kinds.py)."""

from __future__ import annotations

import pytest

from agentrt.engine_adapters.base import SchedHints
from agentrt.runtime.scheduling.policies import PolicyConfig
from agentrt.runtime.scheduling.policies.base import ProgramState
from agentrt.runtime.scheduling.policies.kinds import KindSizes
from agentrt.runtime.scheduling.scheduler import ProgramScheduler


KINDS = ("short", "long", "agent", None)


def program(pid: str, kind: str | None, service: float = 0.0) -> ProgramState:
    return ProgramState(pid, 0.0, service=service, kind=kind)


def finish(sizes: KindSizes, pid: str, kind: str, service: float) -> None:
    p = program(pid, kind, service)
    sizes.seen(p)
    sizes.ended(p)


def test_a_kind_over_ratio_times_a_known_one_ranks_behind_it() -> None:
    sizes = KindSizes(4.0)
    finish(sizes, "s1", "short", 2.0)
    long_live = program("l1", "long", 5.0)
    sizes.seen(long_live)
    assert sizes.ranks(KINDS) == {}  # the short kind has one finished program: not known yet
    finish(sizes, "s2", "short", 4.0)  # mean 3 s
    assert sizes.ranks(KINDS) == {}  # the long kind's 5 s so far is under 4 x 3 s
    long_live.service = 13.0  # a live program's attained service is a lower bound that grows
    assert sizes.ranks(KINDS) == {"long": 1}
    assert sizes.mean("long") == 13.0 and sizes.mean("short") == 3.0


def test_one_kind_or_none_never_reorders() -> None:
    sizes = KindSizes(4.0)
    for i, service in enumerate((1.0, 2.0, 100.0)):
        finish(sizes, f"p{i}", "agent", service)
    sizes.seen(program("x", None, 50.0))
    assert sizes.ranks(KINDS) == {}


def test_kinds_remembered_are_bounded() -> None:
    sizes = KindSizes(4.0, max_kinds=2)
    for i in range(5):
        finish(sizes, f"p{i}", f"k{i}", 1.0)
    assert sizes.mean("k0") == 0.0 and sizes.mean("k4") == 1.0


@pytest.mark.parametrize("args", [(1.0,), (4.0, 0), (4.0, 2, 0)])
def test_bad_settings_are_refused(args: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="ratio > 1"):
        KindSizes(*args)  # type: ignore[arg-type]


def run_program(sched: ProgramScheduler, pid: str, kind: str, now: float, service: float) -> None:
    sched.add_call(f"{pid}.1", pid, SchedHints(program_arrival=now, program_kind=kind), now, num_prompt_tokens=10)
    call = sched.calls[f"{pid}.1"]
    assert [c.call_id for c in sched.order_waiting(now)] == [call.call_id]
    sched.on_scheduled(call, now)
    sched.on_iteration([call], service)
    sched.remove_call(call.call_id, now + service)
    sched.release_program(pid)


def gate_order(kind_gate_ratio: float | None) -> list[str]:
    """Two short programs and a long one ran; the long one is still live. Then a long-kind program
    arrives before a short-kind one, while the working set is full; room frees for one of them."""
    sched = ProgramScheduler(PolicyConfig(name="agentrt", residency_fraction=0.5, kind_gate_ratio=kind_gate_ratio),
                             kv_capacity_tokens=1000)
    run_program(sched, "S1", "bfcl", 0.0, 2.0)
    run_program(sched, "S2", "bfcl", 3.0, 2.0)
    sched.add_call("L1.1", "L1", SchedHints(program_arrival=6.0, program_kind="swe"), 6.0, num_prompt_tokens=450)
    assert [c.call_id for c in sched.order_waiting(6.0)] == ["L1.1"]
    sched.on_scheduled(sched.calls["L1.1"], 6.0)
    sched.on_iteration([sched.calls["L1.1"]], 30.0)
    sched.remove_call("L1.1", 36.0)  # L1 has attained 30 s, stays resident (450 of the 500 budget)
    sched.add_call("L2.1", "L2", SchedHints(program_arrival=37.0, program_kind="swe"), 37.0, num_prompt_tokens=300)
    sched.add_call("S3.1", "S3", SchedHints(program_arrival=38.0, program_kind="bfcl"), 38.0, num_prompt_tokens=300)
    assert sched.order_waiting(38.0) == []  # both held back: 450 + 300 > 500
    sched.release_program("L1")  # room for one
    return [c.call_id for c in sched.order_waiting(39.0)]


def test_the_gate_admits_the_kind_known_to_be_short_first() -> None:
    assert gate_order(4.0) == ["S3.1"]  # bfcl: 2 s a program; swe: 30 s so far
    assert gate_order(None) == ["L2.1"]  # by arrival, as before


def test_the_oracle_and_gittins_keep_their_own_gate_order() -> None:
    for name in ("oracle", "gittins"):
        sched = ProgramScheduler(PolicyConfig(name=name), kv_capacity_tokens=1000)
        assert sched.policy.kinds is None  # type: ignore[attr-defined]
