"""`Runtime`: runs many programs at once against one engine, under structured concurrency.

    async with Runtime(engine=SimEngine(), policy="agentrt") as rt:
        handles = [rt.submit(agent, task) for task in tasks]
        results = await rt.wait(handles)

Leaving the `async with` block waits for every submitted program, then stops the engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AsyncExitStack
from typing import Any, Generic, ParamSpec, TypeVar, overload

import anyio
import networkx as nx
from anyio.abc import TaskGroup

from agentrt.engine_adapters.base import Engine
from agentrt.exceptions import ConfigError, DecorationError, NoRuntimeError
from agentrt.programs import dag
from agentrt.programs.decorators import Program
from agentrt.programs.records import ProgramRecord, ProgramStatus
from agentrt.runtime.instance import ProgramInstance
from agentrt.runtime import tasks
from agentrt.runtime.observer import Observer
from agentrt.runtime.limits import RunLimits
from agentrt.runtime.scheduling.policies import PolicyConfig, PolicyName, policy_config
from agentrt.runtime.scheduling.predictor import ToolLatencyPredictor
from agentrt.runtime.runner import clock
from agentrt.runtime.watchdog import current_stall_signal, watch_for_deadlocks

P = ParamSpec("P")
R = TypeVar("R")


class ProgramHandle(Generic[R]):
    """A submitted program instance. Await it (or `result()`) for its return value."""

    def __init__(self, instance: ProgramInstance) -> None:
        self._instance = instance
        self._done = anyio.Event()
        self._result: Any = None
        self._error: BaseException | None = None

    @property
    def program_id(self) -> str:
        return self._instance.program_id

    @property
    def record(self) -> ProgramRecord:
        """Accounting: start, finish, jct, attained and critical-path service, status, error."""
        return self._instance.record

    @property
    def graph(self) -> nx.DiGraph:
        """The program's DAG of calls (node attribute "record" holds each CallRecord), built at
        each access from the calls issued so far."""
        return dag.graph_of(self._instance.record.calls)

    def critical_path(self, weight: dag.Weight = dag.service_weight) -> tuple[list[str], float]:
        """The heaviest path of calls (by engine service, or pass `dag.latency_weight`)."""
        return dag.critical_path(dag.graph_of(self._instance.record.calls), weight)

    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        """Cancel the program: its calls are cancelled and aborted, its KV released."""
        self._instance.cancel_scope.cancel()

    async def result(self) -> R:
        """Wait for the program. Raises ProgramFailedError (cause: what it raised) or
        ProgramCancelledError."""
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[no-any-return]

    def __await__(self) -> Any:
        return self.result().__await__()

    async def _run(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        try:
            self._result = await self._instance.run(args, kwargs)
        except Exception as exc:  # ProgramFailedError / ProgramCancelledError: kept for result()
            self._error = exc
        finally:
            self._done.set()

    def __repr__(self) -> str:
        return f"<ProgramHandle {self.record.name} {self.program_id} {self.record.status.value}>"


class Runtime:
    """Runs programs on an engine under a scheduling policy.

    engine: defaults to the simulated engine (`SimEngine()`, Llama-3.1-8B on one H100).
    policy: a policy name (`fcfs`, `plas`, `atlas`, `mlfq`, `continuum`, `agentrt`) or a
        `PolicyConfig`. Raises UnknownNameError for an unknown name.
    program_timeout: each program fails with ProgramTimeoutError after this many runtime seconds
        (virtual under the simulator). deadline: wall seconds from entering the runtime after which
        every running or later program fails with RunDeadlineError. ConfigError unless > 0.
    keep_records=False: `records` holds no program (stream them out with an observer's
        `program_finished`), so memory stays bounded by the programs running, whatever their number.
    On virtual time (`agentrt.runtime.runner.run`) a deadlock fails the stuck programs with
    DeadlockError (`runtime/watchdog.py`).
    """

    def __init__(self, engine: Engine | None = None, policy: str | PolicyName | PolicyConfig = PolicyName.AGENTRT, *,
                 predictor: ToolLatencyPredictor | None = None, observers: Sequence[Observer] = (),
                 program_timeout: float | None = None, deadline: float | None = None,
                 keep_records: bool = True) -> None:
        if engine is None:
            from agentrt.engine_adapters.sim import SimEngine

            engine = SimEngine()
        if not isinstance(engine, Engine):
            raise ConfigError(f"engine must be an agentrt Engine (e.g. SimEngine()), got {engine!r}")
        self.engine = engine
        self.policy = policy_config(policy)
        self.predictor = predictor or ToolLatencyPredictor()
        self.observers = list(observers)
        self.limits = RunLimits(program_timeout, deadline)
        self.records: list[ProgramRecord] = []
        self.keep_records = keep_records
        self._num_programs = 0
        self._stack: AsyncExitStack | None = None
        self._programs_tg: TaskGroup | None = None
        self._running: dict[str, ProgramInstance] = {}
        self.now: Callable[[], float] = anyio.current_time

    async def __aenter__(self) -> Runtime:
        self.now = clock()
        async with AsyncExitStack() as stack:
            service_tg = await stack.enter_async_context(anyio.create_task_group())
            await self.engine.start(self.policy, service_tg)
            if (stalls := current_stall_signal()) is not None:
                service_tg.start_soon(watch_for_deadlocks, self, stalls, name="agentrt:deadlocks")
            self.limits.start(self._fail_running)
            stack.callback(self.limits.stop)
            stack.push_async_callback(self._stop_engine, service_tg)
            self._programs_tg = await stack.enter_async_context(anyio.create_task_group())
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        stack, self._stack = self._stack, None
        assert stack is not None
        try:
            return await stack.__aexit__(*exc_info)
        finally:
            self._programs_tg = None

    async def _stop_engine(self, service_tg: TaskGroup) -> None:
        with anyio.CancelScope(shield=True):
            await self.engine.stop()
        service_tg.cancel_scope.cancel()

    # -- programs -----------------------------------------------------------------------------
    @overload
    def submit(self, program: Program[P, R], /, *args: P.args, **kwargs: P.kwargs) -> ProgramHandle[R]: ...

    @overload
    def submit(self, program: Callable[P, Awaitable[R]], /, *args: P.args, **kwargs: P.kwargs) -> ProgramHandle[R]: ...

    def submit(self, program: Program[..., R] | Callable[..., Awaitable[R]], /, *args: Any, **kwargs: Any) -> ProgramHandle[R]:
        """Start a program instance now; returns its handle. Raises NoRuntimeError if the runtime
        is not running, DecorationError if `program` is not an async function/program."""
        if self._programs_tg is None:
            raise NoRuntimeError("Runtime.submit() needs a running runtime: use "
                                 "`async with Runtime(...) as rt: rt.submit(program, ...)`")
        if not isinstance(program, Program):
            program = _as_program(program)
        handle: ProgramHandle[R] = ProgramHandle(self._new_instance(program))
        tasks.start_soon(self._programs_tg, handle._run, args, kwargs, name=f"agentrt:{handle.program_id}")
        return handle

    async def wait(self, handles: Iterable[ProgramHandle[Any]], *, return_exceptions: bool = False) -> list[Any]:
        """Wait for all handles; results in order. With return_exceptions, failures are returned
        instead of raising the first one."""
        out: list[Any] = []
        for h in handles:
            try:
                out.append(await h.result())
            except Exception as exc:
                if not return_exceptions:
                    raise
                out.append(exc)
        return out

    def _new_instance(self, program: Program[Any, Any], parent: ProgramInstance | None = None,
                      base_priority: float = 0.0) -> ProgramInstance:
        self._num_programs += 1
        record = ProgramRecord(program_id=f"p{self._num_programs}", name=program.name, start=self.now(),
                               parent_id=parent.program_id if parent else None)
        if self.keep_records:
            self.records.append(record)
        return ProgramInstance(self, program, record, parent, base_priority)

    def running_programs(self) -> list[ProgramInstance]:
        return list(self._running.values())

    def _fail_running(self, make_error: Callable[[ProgramInstance], BaseException]) -> None:
        for instance in self.running_programs():
            instance.fail(make_error(instance))

    def _notify(self, event: str, record: Any) -> None:
        for obs in self.observers:
            getattr(obs, event)(record)

    def finished(self) -> list[ProgramRecord]:
        return [r for r in self.records if r.status is not ProgramStatus.RUNNING]


def _as_program(fn: Any) -> Program[Any, Any]:
    if isinstance(fn, Program):
        return fn
    try:
        return Program(fn)
    except DecorationError:
        raise DecorationError(f"Runtime.submit() takes an @agentrt.program or an async function, got {fn!r}") from None
