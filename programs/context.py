"""Which program and which branch the running code belongs to.

Two context variables, copied into every task as anyio/asyncio/trio copy contexts:
- the current program instance (set by the runtime for the program's task and its call tasks);
- the branch frontier: the ids of the calls whose results this branch has consumed and that no
  later consumed call depends on. A new call's parents are the frontier when it is issued.

The frontier is an immutable frozenset replaced on each consumption, so a child task (a parallel
branch) starts from its parent's frontier and never leaks its own consumption back; `gather`
merges the children's frontiers into the parent explicitly. Alternative considered: a mutable set
shared through the context, which would let parallel branches see each other's results as
parents and give wrong DAG edges.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from agentrt.exceptions import NoRuntimeError

if TYPE_CHECKING:
    from agentrt.programs.futures import CallFuture


class ProgramScope(Protocol):
    """What user-facing calls need from the running program instance (runtime/instance.py)."""

    @property
    def program_id(self) -> str: ...

    def issue_llm(self, prompt: Any, options: dict[str, Any]) -> CallFuture[Any]: ...

    def issue_tool(self, tool: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallFuture[Any]: ...

    def issue_program(self, program: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallFuture[Any]: ...

    def parents_of(self, call_id: str) -> tuple[str, ...]: ...


current_program: ContextVar[ProgramScope | None] = ContextVar("agentrt_program", default=None)
frontier: ContextVar[frozenset[str]] = ContextVar("agentrt_frontier", default=frozenset())


def require_program(what: str) -> ProgramScope:
    """The running program, or NoRuntimeError saying how to run `what` inside one."""
    scope = current_program.get()
    if scope is None:
        raise NoRuntimeError(
            f"{what} was called outside a running program. Call it from inside an @agentrt.program "
            "function that runs in a runtime, e.g. `async with agentrt.Runtime() as rt: "
            "await rt.submit(my_program, ...)`.")
    return scope


def consume(scope: ProgramScope, call_id: str) -> None:
    """The current branch consumed `call_id`'s result: it replaces its parents in the frontier."""
    current = frontier.get()
    if call_id in current:
        return
    frontier.set(current.difference(scope.parents_of(call_id)) | {call_id})
