"""Never hang: a deadlock on virtual time fails the stuck programs by name; a program past its
timeout and programs still running at the run's deadline fail with typed errors; the rest go on.
And a runtime need not hold the records of the programs that finished."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

import agentrt
from agentrt.engine_adapters.sim import SimEngine
from agentrt.engine_adapters.testing import RecordingEngine
from agentrt.exceptions import AgentRTError, ConfigError, DeadlockError, ProgramTimeoutError, RunDeadlineError
from agentrt.programs.records import ProgramStatus
from agentrt.runtime.runner import run
from agentrt.tools import bash


@agentrt.program
async def hangs() -> None:
    await anyio.Event().wait()


@agentrt.program
async def answers(n: int) -> int:
    await agentrt.llm("hello", max_tokens=n)
    await anyio.sleep(5)
    return n


@agentrt.program
async def quick() -> str:
    return (await agentrt.llm("hello", max_tokens=2)).text


@agentrt.program
async def parent_of_hangs() -> None:
    await hangs()


@agentrt.program
async def sleeps_in_bash() -> None:
    await bash("exec sleep 100000", timeout=200000)


def run_programs(*programs: Any, engine: Any = None, **limits: Any) -> list[agentrt.ProgramRecord]:
    async def main() -> list[agentrt.ProgramRecord]:
        async with agentrt.Runtime(engine=engine or SimEngine(), **limits) as rt:
            for program, args in programs:
                rt.submit(program, *args)
        return sorted(rt.records, key=lambda r: int(r.program_id[1:]))

    return run(main)


@pytest.mark.parametrize("engine", [SimEngine, RecordingEngine])
def test_a_program_waiting_on_nothing_fails_with_a_deadlock_naming_it(engine: Any) -> None:
    records = run_programs((answers, (4,)), (hangs, ()), (answers, (8,)), engine=engine())
    assert [r.status for r in records] == [ProgramStatus.OK, ProgramStatus.FAILED, ProgramStatus.OK]
    stuck = records[1]
    assert stuck.error is not None and stuck.error.startswith("DeadlockError: deadlock: program hangs (p2) waits on nothing")
    assert stuck.finish == pytest.approx(5.0, abs=0.5)  # found when the others' sleeps ended: nothing left to wait for


def test_a_deadlock_in_a_sub_program_fails_the_sub_program_and_its_caller() -> None:
    records = run_programs((parent_of_hangs, ()))
    parent, child = records
    assert child.status is ProgramStatus.FAILED and "DeadlockError" in (child.error or "")
    assert parent.status is ProgramStatus.FAILED and "program hangs (p2)" in (parent.error or "")


def test_code_outside_programs_waiting_on_nothing_is_reported_not_spun_on() -> None:
    async def main() -> None:
        async with agentrt.Runtime(engine=RecordingEngine()):
            await anyio.Event().wait()

    with pytest.raises(BaseExceptionGroup) as info:
        run(main)
    assert info.group_contains(AgentRTError, match="no program is running")


def test_a_program_past_its_timeout_fails_and_the_others_finish() -> None:
    records = run_programs((answers, (4,)), (hangs, ()), engine=RecordingEngine(), program_timeout=10.0)
    ok, stopped = records  # the timeout is a deadline, so the hanging one is not a deadlock
    assert ok.status is ProgramStatus.OK and ok.finish == 5.0
    assert stopped.status is ProgramStatus.FAILED and stopped.error == str_error(ProgramTimeoutError("p2", "hangs", 10.0))
    assert stopped.finish == 10.0


def str_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def test_the_run_deadline_fails_what_is_still_running_in_wall_time() -> None:
    records = run_programs((quick, ()), (sleeps_in_bash, ()), engine=RecordingEngine(), deadline=0.5)
    assert records[0].status is ProgramStatus.OK
    assert records[1].status is ProgramStatus.FAILED
    assert records[1].error == str_error(RunDeadlineError("p2", "sleeps_in_bash", 0.5))


@pytest.mark.parametrize(("limits", "flag"), [({"program_timeout": 0}, "--timeout"), ({"deadline": -1}, "--deadline"),
                                              ({"program_timeout": float("inf")}, "--timeout")])
def test_limits_must_be_positive(limits: dict[str, float], flag: str) -> None:
    with pytest.raises(ConfigError, match=flag):
        agentrt.Runtime(engine=RecordingEngine(), **limits)


def test_deadlock_error_is_exported_typed() -> None:
    assert issubclass(DeadlockError, AgentRTError)


def test_without_keep_records_finished_programs_are_not_held() -> None:
    seen: list[agentrt.ProgramRecord] = []

    class Collect(agentrt.Observer):
        def program_finished(self, program: agentrt.ProgramRecord) -> None:
            seen.append(program)

    async def main() -> list[agentrt.ProgramRecord]:
        async with agentrt.Runtime(engine=RecordingEngine(), observers=[Collect()], keep_records=False) as rt:
            for n in (1, 2, 3):
                rt.submit(answers, n)
        return rt.records

    assert run(main) == []
    assert sorted(r.program_id for r in seen) == ["p1", "p2", "p3"] and all(r.status is ProgramStatus.OK for r in seen)


def test_two_runtimes_on_one_clock_each_fail_their_own_stuck_program() -> None:
    async def one_runtime(out: list[agentrt.ProgramRecord]) -> None:
        async with agentrt.Runtime(engine=RecordingEngine()) as rt:
            ok, stuck = rt.submit(answers, 2), rt.submit(hangs)
        out += [ok.record, stuck.record]

    async def main() -> list[agentrt.ProgramRecord]:
        out: list[agentrt.ProgramRecord] = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(one_runtime, out)
            tg.start_soon(one_runtime, out)
        return out

    records = run(main)
    assert [r.status for r in records] == [ProgramStatus.OK, ProgramStatus.FAILED] * 2
    assert all("DeadlockError: deadlock: program hangs (p2) waits on nothing" in (r.error or "") for r in records[1::2])
