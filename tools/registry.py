"""`@tool` and the tool registry.

A tool is a sync or async function. Inside a program, calling it issues a tool call and returns a
`CallFuture`; the runtime runs it (sync functions in a worker thread), times it, and feeds the
duration to the tool-latency predictor that drives KV pinning. Name, description and JSON schema
come from the signature and docstring (as pydantic-ai does), for LLM tool use.

Inside a running tool, `current_tool_call()` says which call it is (for typed errors that name the
call) and `annotate_call(...)` attaches attributes to it (a command's exit code) that observers such
as the tracer read when the call finishes. The call is known to the tool through a context variable
holding a small mutable record: `Tool.__call__` sets it before the runtime spawns the call's task
(which copies the context) and fills in the call id once the runtime has assigned it, before the
task first runs. Alternative considered: a map from call id to attributes in the registry, which
would grow without bound when nothing reads it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, TypeVar, overload

from pydantic import TypeAdapter

from agentrt.exceptions import DecorationError, UnknownNameError
from agentrt.programs.context import require_program
from agentrt.programs.futures import CallFuture

P = ParamSpec("P")
R = TypeVar("R")

TOOL_OPTIONS = ("name", "description", "timeout")

_registry: dict[str, Tool[Any, Any]] = {}


@dataclass(slots=True)
class ToolCallInfo:
    """The tool call the running code belongs to. `attributes` are set with `annotate_call`."""

    tool_name: str
    call_id: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)


_current_call: ContextVar[ToolCallInfo | None] = ContextVar("agentrt_tool_call", default=None)


def current_tool_call() -> ToolCallInfo | None:
    """The tool call running this code, or None when the tool function was called directly."""
    return _current_call.get()


def annotate_call(**attributes: Any) -> None:
    """Attach attributes (e.g. `exit_code=1`) to the running tool call; a no-op outside one."""
    info = _current_call.get()
    if info is not None:
        info.attributes.update(attributes)


class Tool(Generic[P, R]):
    """A registered tool. `timeout` (seconds, optional) bounds each call: a ToolTimeoutError."""

    def __init__(self, fn: Callable[P, R], *, name: str | None = None, description: str | None = None,
                 timeout: float | None = None) -> None:
        if not callable(fn) or inspect.isclass(fn):
            raise DecorationError(f"@tool needs a function, got {fn!r}")
        if timeout is not None and not timeout > 0:
            raise DecorationError(f"@tool(timeout={timeout!r}): timeout must be > 0 seconds or None")
        self.fn = fn
        self.name = name or fn.__name__
        self.description = description or inspect.cleandoc(fn.__doc__ or "").split("\n\n")[0]
        self.timeout = timeout
        self.is_async = inspect.iscoroutinefunction(fn)
        self.__wrapped__ = fn

    @property
    def schema(self) -> dict[str, Any]:
        """JSON schema of the parameters, from the signature's annotations."""
        return parameters_schema(self.fn)

    def spec(self) -> dict[str, Any]:
        """OpenAI-style function spec: name, description, parameters."""
        return {"name": self.name, "description": self.description, "parameters": self.schema}

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> CallFuture[R]:
        """Issue a tool call from inside a program. Raises NoRuntimeError outside one (call
        `tool.fn(...)` to run the function directly)."""
        scope = require_program(f"tool {self.name!r} (use `{self.name}.fn(...)` to call it directly)")
        info = ToolCallInfo(self.name)
        token = _current_call.set(info)  # copied into the call's task when the runtime spawns it
        try:
            fut = scope.issue_tool(self, args, kwargs)
        finally:
            _current_call.reset(token)
        info.call_id = fut.call_id
        return fut

    def __repr__(self) -> str:
        return f"<agentrt.Tool {self.name}>"


def parameters_schema(fn: Callable[..., Any]) -> dict[str, Any]:
    sig = inspect.signature(fn)
    props: dict[str, Any] = {}
    required: list[str] = []
    for pname, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        ann = param.annotation if param.annotation is not inspect.Parameter.empty else Any
        if isinstance(ann, str):
            ann = _resolve(fn, ann)
        props[pname] = TypeAdapter(ann).json_schema()
        if param.default is inspect.Parameter.empty:
            required.append(pname)
        else:
            props[pname]["default"] = param.default
    return {"type": "object", "properties": props, "required": required}


def _resolve(fn: Callable[..., Any], annotation: str) -> Any:
    try:
        return eval(annotation, getattr(fn, "__globals__", {}))  # noqa: S307 - annotations only
    except Exception:
        return Any


@overload
def tool(fn: Callable[P, R], /) -> Tool[P, R]: ...


@overload
def tool(*, name: str | None = None, description: str | None = None,
         timeout: float | None = None) -> Callable[[Callable[P, R]], Tool[P, R]]: ...


def tool(fn: Any = None, /, **options: Any) -> Any:
    """Register a function as a tool; bare (`@tool`) or with options (name, description, timeout).

    Raises DecorationError for an unknown option or a non-function."""
    unknown = sorted(set(options) - set(TOOL_OPTIONS))
    if unknown:
        raise DecorationError(f"unknown @tool option(s) {unknown}; valid options: {list(TOOL_OPTIONS)}")

    def register(f: Callable[..., Any]) -> Tool[Any, Any]:
        t = Tool(f, **options)
        _registry[t.name] = t
        return t

    return register(fn) if fn is not None else register


def get_tool(name: str) -> Tool[Any, Any]:
    """The registered tool of that name. Raises UnknownNameError listing the registered tools."""
    try:
        return _registry[name]
    except KeyError:
        raise UnknownNameError("tool", name, sorted(_registry)) from None


def registered_tools() -> dict[str, Tool[Any, Any]]:
    return dict(_registry)
