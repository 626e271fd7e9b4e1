"""`ProgramInstance`: one running program, its calls, its DAG and its accounting.

Every call a program issues runs as a task in the program's own task group, so cancelling the
program cancels its calls; the engine is told to abort cancelled LLM calls and, when the program
ends for any reason, to release everything it holds for the program (in `finally`, shielded).
A program finishes when its function has returned and every call it issued has finished.

LLM calls do not get a task each: the runtime hands them to the engine with `Engine.submit` and a
completion callback (an anyio task per call cost ~60 us on these machines, over the 50 us budget
for the whole runtime overhead), and aborts the ones still in flight when the program ends.
Engines without a native `submit` get a task per call that awaits `generate`.
"""

from __future__ import annotations

import functools
import traceback
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup

from agentrt.engine_adapters.base import GenerationRequest, GenerationResult, SchedHints
from agentrt.exceptions import (CallError, LLMCallError, ProgramCancelledError, ProgramFailedError,
                                ProgramTimeoutError, ToolCallError, ToolTimeoutError)
from agentrt.programs import context, dag
from agentrt.programs.decorators import Completion, Program
from agentrt.programs.futures import CallFuture
from agentrt.programs.records import CallKind, CallRecord, CallStatus, ProgramRecord, ProgramStatus
from agentrt.programs.tokens import Tokens
from agentrt.runtime import tasks
from agentrt.tools.clock import real_time

if TYPE_CHECKING:
    from agentrt.runtime.runtime import Runtime
    from agentrt.tools.registry import Tool


class ProgramInstance:
    """Implements `programs.context.ProgramScope` for one program instance."""

    def __init__(self, runtime: Runtime, program: Program[Any, Any], record: ProgramRecord,
                 parent: ProgramInstance | None = None, base_priority: float = 0.0) -> None:
        self.runtime = runtime
        self.program = program
        self.record = record
        self.program_id = record.program_id  # an attribute, not a property: read ~9 times per LLM call
        self.parent = parent
        self.base_priority = base_priority
        self.cancel_scope = anyio.CancelScope()
        self._tg: TaskGroup | None = None
        self._num_calls = 0
        self._llm_in_flight = 0
        self._last_llm_finish: float | None = None
        self._llm_calls: dict[str, tuple[CallFuture[Completion], Any]] = {}  # in flight
        self._drained: anyio.Event | None = None
        self._forced_error: BaseException | None = None

    @property
    def root(self) -> ProgramInstance:
        return self if self.parent is None else self.parent.root

    # -- running the program ------------------------------------------------------------------
    async def run(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run the program to the end. Raises ProgramFailedError or ProgramCancelledError."""
        rt = self.runtime
        context.current_program.set(self)
        context.frontier.set(frozenset())
        rt._notify("program_started", self.record)
        rt._running[self.program_id] = self
        self._arm_limits()
        error: BaseException | None = None
        result: Any = None
        cancelled = False
        try:
            with self.cancel_scope:
                async with anyio.create_task_group() as tg:
                    self._tg = tg
                    try:
                        result = await self.program.fn(*args, **kwargs)
                        await self._drain_llm_calls()
                    except Exception as exc:  # the program's own failure: stop its other branches
                        error = exc
                        tg.cancel_scope.cancel()
        except anyio.get_cancelled_exc_class():  # cancelled from outside (the runtime stops)
            cancelled = True
            raise
        finally:
            self._tg = None
            rt._running.pop(self.program_id, None)
            error = error or self._limit_error()
            with anyio.CancelScope(shield=True):
                await self._abort_llm_calls()
                await rt.engine.release_program(self.program_id)
                self._finish(error, cancelled or self.cancel_scope.cancel_called)
        if error is not None:
            raise ProgramFailedError(self.program_id, self.record.name, error) from error
        if self.record.status is ProgramStatus.CANCELLED:
            raise ProgramCancelledError(self.program_id, self.record.name)
        return result

    def fail(self, error: BaseException) -> None:
        """Stop the program from outside; it ends FAILED with `error` (a deadlock, the run's deadline)."""
        if self._forced_error is None:
            self._forced_error = error
            self.cancel_scope.cancel()

    def _arm_limits(self) -> None:
        limits = self.runtime.limits
        if (late := limits.deadline_error(self)) is not None:
            self.fail(late)
        elif limits.program_timeout is not None and self.parent is None:
            self.cancel_scope.deadline = self.runtime.now() + limits.program_timeout

    def _limit_error(self) -> BaseException | None:
        """Why the program was stopped from outside, if it was: forced, or past its timeout."""
        if self._forced_error is not None:
            return self._forced_error
        timeout = self.runtime.limits.program_timeout
        if timeout is not None and self.cancel_scope.cancelled_caught and self.runtime.now() >= self.cancel_scope.deadline:
            return ProgramTimeoutError(self.program_id, self.record.name, timeout)
        return None

    def _finish(self, error: BaseException | None, cancelled: bool) -> None:
        rec = self.record
        rec.finish = self.runtime.now()
        if error is not None:
            rec.status, rec.error = ProgramStatus.FAILED, f"{type(error).__name__}: {error}"
            rec.traceback = "".join(traceback.format_exception(error))
        elif cancelled:
            rec.status, rec.error = ProgramStatus.CANCELLED, "cancelled"
        else:
            rec.status = ProgramStatus.OK
        rec.critical_path_service = dag.critical_path_weight(rec.calls)
        self.runtime._notify("program_finished", rec)

    # -- issuing calls (ProgramScope) -----------------------------------------------------------
    def _new_call(self, kind: CallKind, name: str) -> CallRecord:
        parents = tuple(sorted(context.frontier.get()))
        self._num_calls += 1
        calls = self.record.calls
        rec = CallRecord(call_id=f"{self.program_id}.{self._num_calls}", program_id=self.program_id,
                         kind=kind, name=name, parent_ids=parents, arrival=self.runtime.now(),
                         priority=dag.priority_of(calls, parents) if parents else self.base_priority)
        calls[rec.call_id] = rec
        self.record.num_calls += 1
        self.runtime._notify("call_started", rec)
        return rec

    def _spawn(self, fn: Any, *args: Any) -> None:
        if self._tg is None:
            raise RuntimeError(f"program {self.record.name} ({self.program_id}) has finished; "
                               "calls can only be issued while it runs")
        tasks.start_soon(self._tg, fn, *args)

    def parents_of(self, call_id: str) -> tuple[str, ...]:
        rec = self.record.calls.get(call_id)
        return rec.parent_ids if rec is not None else ()

    def issue_llm(self, prompt: Any, options: dict[str, Any]) -> CallFuture[Completion]:
        rec = self._new_call(CallKind.LLM, options.pop("name"))
        fut: CallFuture[Completion] = CallFuture(rec, self)
        self._note_gap(rec.arrival)
        if self._tg is None:
            raise RuntimeError(f"program {self.record.name} ({self.program_id}) has finished; "
                               "calls can only be issued while it runs")
        self._start_llm(fut, prompt, options)
        return fut

    def issue_tool(self, tool: Tool[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallFuture[Any]:
        fut: CallFuture[Any] = CallFuture(self._new_call(CallKind.TOOL, tool.name), self)
        self._spawn(self._run_tool, fut, tool, args, kwargs)
        return fut

    def issue_program(self, program: Program[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallFuture[Any]:
        rec = self._new_call(CallKind.PROGRAM, program.name)
        child = self.runtime._new_instance(program, parent=self, base_priority=rec.priority)
        rec.child_program_id = child.program_id
        fut: CallFuture[Any] = CallFuture(rec, self)
        self._spawn(self._run_program, fut, child, args, kwargs)
        return fut

    # -- running calls ------------------------------------------------------------------------
    def _note_gap(self, now: float) -> None:
        if self._last_llm_finish is not None and self._llm_in_flight == 0:
            self.runtime.predictor.observe_gap(self.program_id, now - self._last_llm_finish)
        self._llm_in_flight += 1

    def _start_llm(self, fut: CallFuture[Completion], prompt: Any, options: dict[str, Any]) -> None:
        rec = fut.record
        rt = self.runtime
        hints = SchedHints(program_arrival=self.root.record.start, program_service=self.root.record.attained_service,
                           priority=rec.priority, gap_samples=rt.predictor.gap_samples(self.program_id),
                           remaining_work=options.pop("remaining_work", None),
                           program_kind=self.root.program.name)
        request = GenerationRequest(call_id=rec.call_id, program_id=self.program_id, prompt=prompt,
                                    arrival=rec.arrival, hints=hints, **options)
        rec.status = CallStatus.RUNNING
        self._llm_calls[rec.call_id] = (fut, prompt)
        if not rt.engine.submit(request, functools.partial(self._llm_done, rec.call_id)):
            self._spawn(self._await_llm, request)

    async def _await_llm(self, request: GenerationRequest) -> None:
        """Fallback for engines without a native `submit`: one task per call."""
        try:
            result: GenerationResult | BaseException = await self.runtime.engine.generate(request)
        except Exception as exc:  # handed to the call's future as its typed error
            result = exc
        self._llm_done(request.call_id, result)

    def _llm_done(self, call_id: str, outcome: GenerationResult | BaseException) -> None:
        """Engine callback: the call finished with a result or an error."""
        entry = self._llm_calls.pop(call_id, None)
        if entry is None:  # already cancelled
            return
        fut, prompt = entry
        rec = fut.record
        if isinstance(outcome, BaseException):
            kind = type(outcome) if isinstance(outcome, LLMCallError) else LLMCallError  # keeps the typed cause
            reason = outcome.reason if isinstance(outcome, CallError) else str(outcome)
            err = kind(reason, call_id=rec.call_id, call_name=rec.name)
            err.__cause__ = outcome
            self._end_llm(fut, CallStatus.FAILED, error=err)
            return
        self._account(rec, outcome)
        context_tokens = prompt + outcome.output if isinstance(prompt, Tokens) else None
        completion = Completion(text=outcome.text, output=outcome.output, context=context_tokens,
                                call_id=rec.call_id, prompt_tokens=outcome.num_prompt_tokens,
                                cached_tokens=outcome.num_cached_tokens, output_tokens=outcome.num_output_tokens,
                                finish_reason=outcome.finish_reason)
        self._end_llm(fut, CallStatus.DONE, result=completion)

    async def _abort_llm_calls(self) -> None:
        """Abort every LLM call still in flight (the program is ending)."""
        for call_id in list(self._llm_calls):
            fut, _ = self._llm_calls.pop(call_id)
            await self.runtime.engine.abort(call_id)
            self._end_llm(fut, CallStatus.CANCELLED,
                          error=LLMCallError("cancelled", call_id=call_id, call_name=fut.record.name))

    async def _drain_llm_calls(self) -> None:
        """Wait until no LLM call of this program is in flight."""
        while self._llm_calls:
            self._drained = anyio.Event()
            await self._drained.wait()

    def _end_llm(self, fut: CallFuture[Any], status: CallStatus, result: Any = None, error: CallError | None = None) -> None:
        rec = fut.record
        rec.finish = self.runtime.now()
        if error is not None:
            rec.error = str(error)
        self._llm_in_flight -= 1
        self._last_llm_finish = rec.finish
        fut._finish(status, result, error)
        self.runtime._notify("call_finished", rec)
        if not self._llm_calls and self._drained is not None:
            self._drained.set()

    def _account(self, rec: CallRecord, r: GenerationResult) -> None:
        rec.first_scheduled, rec.queue_wait = r.first_scheduled, r.queue_wait
        rec.prefill_tokens, rec.cached_tokens, rec.decode_tokens = r.num_prefill_tokens, r.num_cached_tokens, r.num_output_tokens
        rec.service_time, rec.pinned = r.service_time, r.pin_ttl > 0
        rec.preemptions, rec.recomputed_tokens = r.preemptions, r.recomputed_tokens
        node: ProgramInstance | None = self
        while node is not None:  # service rolls up to the enclosing programs
            node.record.attained_service += r.service_time
            node = node.parent

    async def _run_tool(self, fut: CallFuture[Any], tool: Tool[Any, Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        rec = fut.record
        rt = self.runtime
        rec.status = CallStatus.RUNNING
        await rt.engine.hint_tool(self.program_id, tool.name, rt.predictor.gap_samples(self.program_id, tool.name))
        start = self.runtime.now()
        error: Exception | None = None
        status, result = CallStatus.DONE, None
        try:
            with anyio.fail_after(tool.timeout) if tool.timeout else nullcontext():
                if tool.is_async:
                    result = await tool.fn(*args, **kwargs)
                else:  # in a thread; a virtual clock runs at wall speed meanwhile (tools/clock.py)
                    with real_time():  # on timeout the thread is abandoned (threads cannot be killed)
                        result = await anyio.to_thread.run_sync(functools.partial(tool.fn, *args, **kwargs),
                                                                abandon_on_cancel=tool.timeout is not None)
        except anyio.get_cancelled_exc_class():
            fut._finish(CallStatus.CANCELLED, error=ToolCallError("cancelled", call_id=rec.call_id, call_name=rec.name))
            rt._notify("call_finished", rec)
            raise
        except TimeoutError as exc:
            status = CallStatus.FAILED
            error = ToolTimeoutError(f"timed out after {tool.timeout} s", call_id=rec.call_id, call_name=rec.name)
            error.__cause__ = exc
        except Exception as exc:  # the tool's failure becomes the call's typed error
            status = CallStatus.FAILED
            error = exc if isinstance(exc, ToolCallError) else ToolCallError(f"{type(exc).__name__}: {exc}", call_id=rec.call_id, call_name=rec.name)
            if error is not exc:
                error.__cause__ = exc
        finally:
            rec.finish = self.runtime.now()
            rec.tool_time = rec.finish - start
            rt.predictor.observe_tool(tool.name, rec.tool_time)
        if error is not None:
            rec.error = str(error)
        fut._finish(status, result, error)
        rt._notify("call_finished", rec)

    async def _run_program(self, fut: CallFuture[Any], child: ProgramInstance, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        rec = fut.record
        error: ProgramFailedError | ProgramCancelledError | None
        rec.status = CallStatus.RUNNING
        try:
            result = await child.run(args, kwargs)
        except anyio.get_cancelled_exc_class():
            fut._finish(CallStatus.CANCELLED, error=ProgramCancelledError(child.program_id, child.record.name))
            self.runtime._notify("call_finished", rec)
            raise
        except (ProgramFailedError, ProgramCancelledError) as exc:
            rec.error = str(exc)
            status, result, error = CallStatus.FAILED, None, exc
        else:
            status, error = CallStatus.DONE, None
        finally:
            rec.finish = self.runtime.now()
            rec.service_time = child.record.critical_path_service
        fut._finish(status, result, error)
        self.runtime._notify("call_finished", rec)
