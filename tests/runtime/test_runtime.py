"""Runtime core: accounting, failure semantics, cancellation, bad input, both anyio backends."""

from __future__ import annotations

import anyio
import pytest

import agentrt
from agentrt.engine_adapters.testing import RecordingEngine

pytestmark = pytest.mark.anyio


@agentrt.tool
async def slow_tool(seconds: float) -> str:
    await anyio.sleep(seconds)
    return "ok"


@agentrt.tool
def broken_tool(x: int) -> int:
    raise ValueError(f"bad x {x}")


@agentrt.program
async def two_turns() -> int:
    first = await agentrt.llm("hello", max_tokens=3)
    await slow_tool(0.5)
    second = await agentrt.llm([{"role": "user", "content": first.text}], max_tokens=4)
    return second.output_tokens


@pytest.mark.virtual_time
async def test_accounting_fields_are_filled(anyio_backend: object) -> None:
    engine = RecordingEngine(latency=0.25)
    async with agentrt.Runtime(engine=engine, policy="plas") as rt:
        h = rt.submit(two_turns)
        assert await h == 4
    rec = h.record
    assert rec.status is agentrt.ProgramStatus.OK and rec.error is None
    assert rec.num_calls == 3
    assert rec.start == 0.0 and rec.finish == pytest.approx(1.0) and rec.jct == pytest.approx(1.0)
    assert rec.attained_service == pytest.approx(0.5)
    assert rec.critical_path_service == pytest.approx(0.5)
    llm1, tool, llm2 = rec.calls.values()
    assert (llm1.arrival, llm1.finish, llm1.service_time) == (0.0, 0.25, 0.25)
    assert llm1.decode_tokens == 3 and llm1.prefill_tokens > 0 and llm1.first_scheduled == 0.0
    assert tool.kind is agentrt.CallKind.TOOL and tool.tool_time == pytest.approx(0.5)
    assert llm2.arrival == pytest.approx(0.75) and llm2.decode_tokens == 4
    assert engine.policy is not None and engine.policy.name.value == "plas"
    # the policy's inputs travel with the request
    second = engine.requests[1]
    assert second.hints.program_service == pytest.approx(0.25)
    assert second.hints.priority == pytest.approx(0.25)
    assert engine.tool_hints == [(h.program_id, "slow_tool")]
    assert engine.released == [h.program_id]


async def test_both_backends_run_many_programs(anyio_backend: object) -> None:
    async with agentrt.Runtime(engine=RecordingEngine()) as rt:
        handles = [rt.submit(two_turns) for _ in range(20)]
        assert await rt.wait(handles) == [4] * 20
    assert len({h.program_id for h in handles}) == 20


@agentrt.program
async def uses_broken_tool() -> str:
    try:
        await broken_tool(3)
    except agentrt.ToolCallError as exc:
        return f"handled {exc.call_name}"
    return "not raised"


@agentrt.program
async def fails_while_branch_runs() -> None:
    pending = agentrt.llm("long", max_tokens=5, name="long-call")
    await anyio.sleep(0.1)
    await broken_tool(1)
    await pending


async def test_tool_error_reaches_program_typed_and_named(anyio_backend: object) -> None:
    async with agentrt.Runtime(engine=RecordingEngine()) as rt:
        assert await rt.submit(uses_broken_tool) == "handled broken_tool"


@pytest.mark.virtual_time
async def test_unhandled_error_fails_program_cancels_branches_others_continue(anyio_backend: object) -> None:
    engine = RecordingEngine(latency=10.0)
    async with agentrt.Runtime(engine=engine) as rt:
        bad = rt.submit(fails_while_branch_runs)
        good = rt.submit(two_turns)
        with pytest.raises(agentrt.ProgramFailedError) as info:
            await bad
        assert await good == 4
    assert isinstance(info.value.__cause__, agentrt.ToolCallError)
    assert "broken_tool" in str(info.value) and "bad x 1" in str(info.value)
    rec = bad.record
    assert rec.status is agentrt.ProgramStatus.FAILED and "bad x 1" in (rec.error or "")
    assert "ValueError" in (rec.traceback or "")
    long_call = next(c for c in rec.calls.values() if c.name == "long-call")
    assert long_call.status is agentrt.CallStatus.CANCELLED
    assert engine.aborted == [long_call.call_id]
    assert bad.program_id in engine.released and good.program_id in engine.released
    assert rec.finish == pytest.approx(0.1, abs=0.05)  # the sync tool ran its real duration


@agentrt.program
async def waits_long() -> None:
    await agentrt.gather(agentrt.llm("a", max_tokens=1), agentrt.llm("b", max_tokens=1))


async def test_cancel_aborts_calls_and_releases_program(anyio_backend: object) -> None:
    engine = RecordingEngine(latency=30.0)
    async with agentrt.Runtime(engine=engine) as rt:
        h = rt.submit(waits_long)
        await anyio.sleep(0.01)
        h.cancel()
        with pytest.raises(agentrt.ProgramCancelledError):
            await h
    assert h.record.status is agentrt.ProgramStatus.CANCELLED
    assert sorted(engine.aborted) == sorted(h.record.calls)
    assert engine.released == [h.program_id]
    assert all(c.status is agentrt.CallStatus.CANCELLED for c in h.record.calls.values())


async def test_engine_error_becomes_typed_llm_error(anyio_backend: object) -> None:
    engine = RecordingEngine(fail=lambda req: agentrt.PromptTooLongError("too long", call_id=req.call_id, call_name="?"))

    @agentrt.program
    async def p() -> str:
        try:
            await agentrt.llm("x" * 100, max_tokens=1, name="summarize")
        except agentrt.PromptTooLongError as exc:
            return exc.call_name
        return "no"

    async with agentrt.Runtime(engine=engine) as rt:
        assert await rt.submit(p) == "summarize"


def test_program_on_sync_function_is_rejected() -> None:
    with pytest.raises(agentrt.DecorationError, match="async def"):
        @agentrt.program
        def not_async() -> None: ...


def test_unknown_decorator_options_list_valid_keys() -> None:
    with pytest.raises(agentrt.DecorationError, match="valid options: \\['name'\\]"):
        agentrt.program(nmae="x")
    with pytest.raises(agentrt.DecorationError, match="timeout"):
        agentrt.tool(retries=3)


def test_calls_outside_a_program_say_how_to_run() -> None:
    with pytest.raises(agentrt.NoRuntimeError, match="Runtime"):
        agentrt.llm("hi", max_tokens=5)
    with pytest.raises(agentrt.NoRuntimeError, match="Runtime"):
        two_turns()
    with pytest.raises(agentrt.NoRuntimeError, match="fn"):
        slow_tool(1.0)


async def test_max_tokens_must_be_positive(anyio_backend: object) -> None:
    @agentrt.program
    async def p(n: int) -> None:
        await agentrt.llm("hi", max_tokens=n)

    async with agentrt.Runtime(engine=RecordingEngine()) as rt:
        for n in (0, -3):
            with pytest.raises(agentrt.ProgramFailedError) as info:
                await rt.submit(p, n)
            assert isinstance(info.value.__cause__, agentrt.ConfigError)
            assert "max_tokens must be a positive int" in str(info.value)


def test_unknown_policy_lists_valid_names() -> None:
    with pytest.raises(agentrt.UnknownNameError, match="fcfs, plas, atlas, mlfq, continuum, agentrt"):
        agentrt.Runtime(engine=RecordingEngine(), policy="sjf")


async def test_submit_outside_running_runtime(anyio_backend: object) -> None:
    rt = agentrt.Runtime(engine=RecordingEngine())
    with pytest.raises(agentrt.NoRuntimeError, match="async with"):
        rt.submit(two_turns)


def test_run_helper_uses_virtual_time() -> None:
    async def main() -> float:
        async with agentrt.Runtime(engine=RecordingEngine(latency=3600.0)) as rt:
            await rt.submit(two_turns)
        return anyio.current_time()

    assert agentrt.run(main) == pytest.approx(7200.5)
