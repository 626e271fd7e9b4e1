"""`@tool` and the tool registry.

A tool is a sync or async function. Inside a program, calling it issues a tool call and returns a
`CallFuture`; the runtime runs it (sync functions in a worker thread), times it, and feeds the
duration to the tool-latency predictor that drives KV pinning. Name, description and JSON schema
come from the signature and docstring (as pydantic-ai does), for LLM tool use.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Generic, ParamSpec, TypeVar, overload

from pydantic import TypeAdapter

from agentrt.exceptions import DecorationError, UnknownNameError
from agentrt.programs.context import require_program
from agentrt.programs.futures import CallFuture

P = ParamSpec("P")
R = TypeVar("R")

TOOL_OPTIONS = ("name", "description", "timeout")

_registry: dict[str, Tool[Any, Any]] = {}


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
        return scope.issue_tool(self, args, kwargs)

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
