"""ProgramTable: calls, DAG priorities, branches, tool gaps and program ends, on a hand-driven clock."""

from __future__ import annotations

import pytest

from agentrt.programs.tokens import Tokens
from agentrt.runtime.scheduling.predictor import ToolLatencyPredictor
from agentrt.serve.identity import Identity
from agentrt.serve.programs import EndReason, ProgramState, ProgramTable


def _table(**kw: float) -> ProgramTable:
    return ProgramTable(ToolLatencyPredictor(min_samples=2), **kw)  # type: ignore[arg-type]


def test_a_chain_of_calls_accumulates_service_priority_and_gaps() -> None:
    table = _table()
    first, hints = table.begin_call(Identity("p", "new"), now=0.0)
    assert (first.parent_id, hints.program_service, hints.priority, hints.program_arrival) == (None, 0.0, 0.0, 0.0)
    table.finish_call(first.call_id, now=1.0, service_time=0.5, context=Tokens.synthetic(10))
    second, hints = table.begin_call(Identity("p", "inferred", first.call_id, 3), now=4.0, tool_names=("bash",))
    assert second.parent_id == first.call_id
    assert (hints.program_service, hints.priority) == (0.5, 0.5)  # parent's priority + parent's service
    table.finish_call(second.call_id, now=5.0, service_time=0.25, context=None)
    third, hints = table.begin_call(Identity("p", "inferred", second.call_id, 5), now=7.0, tool_names=("bash",))
    assert (hints.program_service, hints.priority) == (0.75, 0.75)
    program = table.active["p"]
    assert program.gaps == [3.0, 2.0] and program.tool_names == {"bash": 2}
    assert table.predictor.gap_samples("p") == (3.0, 2.0)
    assert table.predictor.gap_samples("p", "bash") == (3.0, 2.0)


def test_requests_extending_one_call_in_flight_together_are_branches() -> None:
    table = _table()
    root, _ = table.begin_call(Identity("p", "new"), now=0.0)
    table.finish_call(root.call_id, now=1.0, service_time=2.0, context=None)
    a, ha = table.begin_call(Identity("p", "inferred", root.call_id, 2), now=1.5)
    b, hb = table.begin_call(Identity("p", "inferred", root.call_id, 2), now=1.5)
    program = table.active["p"]
    assert (program.max_parallel, program.num_branch_calls) == (2, 1)
    assert ha.priority == hb.priority == 2.0 and a.parent_id == b.parent_id == root.call_id
    assert program.gaps == [0.5]  # the second branch arrived while the first was in flight: no gap
    table.finish_call(a.call_id, now=3.0, service_time=1.0, context=None)
    table.finish_call(b.call_id, now=4.0, service_time=3.0, context=None)
    join, hj = table.begin_call(Identity("p", "inferred", b.call_id, 4), now=4.0)
    assert hj.priority == 5.0 and hj.program_service == 6.0  # critical path root -> b; service of all


def test_a_named_program_without_a_matching_answer_follows_its_latest_answer() -> None:
    table = _table()
    first, _ = table.begin_call(Identity("job", "header:x-agentrt-program"), now=0.0)
    table.finish_call(first.call_id, now=2.0, service_time=1.0, context=None)
    second, hints = table.begin_call(Identity("job", "header:x-agentrt-program"), now=3.0)
    assert second.parent_id == first.call_id and hints.priority == 1.0


def test_a_clients_expected_tool_time_replaces_the_learned_gaps() -> None:
    table = _table()
    call, hints = table.begin_call(Identity("p", "new"), now=0.0, expected_gap=12.5)
    assert hints.gap_samples == (12.5,)


def test_idle_timeout_grows_with_the_programs_gaps() -> None:
    table = _table(min_idle_timeout=10.0, idle_factor=2.0)
    call, _ = table.begin_call(Identity("p", "new"), now=0.0)
    table.finish_call(call.call_id, now=1.0, service_time=0.1, context=None)
    assert table.idle_timeout("p") == 10.0
    assert table.idle_programs(11.0) == [] and table.idle_programs(11.01) == ["p"]
    for t in (9.0, 17.0):  # two gaps of 8 s: the timeout becomes 2 x 8 = 16 s
        call, _ = table.begin_call(Identity("p", "inferred", call.call_id, 1), now=t)
        table.finish_call(call.call_id, now=t, service_time=0.0, context=None)
    assert table.idle_timeout("p") == 16.0
    assert table.idle_programs(33.0) == [] and table.idle_programs(33.5) == ["p"]
    busy, _ = table.begin_call(Identity("q", "new"), now=0.0)
    assert "q" not in table.idle_programs(1e9)  # a call in flight is never idle


def test_ending_a_program_returns_its_calls_in_flight_and_keeps_its_record() -> None:
    table = _table()
    done, _ = table.begin_call(Identity("p", "new"), now=0.0)
    table.finish_call(done.call_id, now=1.0, service_time=0.5, context=Tokens.synthetic(4))
    running, _ = table.begin_call(Identity("p", "inferred", done.call_id, 2), now=2.0)
    ended = table.end_program("p", now=3.0, reason=EndReason.DELETED)
    assert ended is not None and ended.in_flight == {running.call_id}
    assert (ended.state, ended.end_reason, ended.jct) == (ProgramState.ENDED, EndReason.DELETED, 3.0)
    assert table.call(done.call_id) is None and table.end_program("p", now=4.0, reason=EndReason.IDLE) is None
    assert table.find("p") is ended and table.find("p").summary()["num_calls"] == 2  # type: ignore[union-attr]
    assert table.predictor.statistics().num_programs == 0  # its window is dropped; the global pool keeps the gap


def test_an_idle_end_counts_the_program_until_its_last_answer() -> None:
    table = _table(min_idle_timeout=1.0)
    call, _ = table.begin_call(Identity("p", "new"), now=2.0)
    table.finish_call(call.call_id, now=5.0, service_time=1.0, context=None)
    ended = table.end_program("p", now=100.0, reason=EndReason.IDLE)
    assert ended is not None and ended.jct == 3.0


def test_bad_timeouts_are_rejected() -> None:
    with pytest.raises(ValueError, match="idle_factor"):
        ProgramTable(idle_factor=0.5)
