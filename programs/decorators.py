"""`@program` and `llm()`: the programming model's entry points.

A program is an ordinary `async def`. Inside a running runtime, calling a program runs it as a
sub-program instance with its own id and returns a `CallFuture`; `rt.submit(program, ...)` starts a
top-level instance. `llm(...)` issues an LLM call at once and returns its `CallFuture`, so several
calls issued before awaiting run in parallel.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, ParamSpec, TypeVar, overload

from agentrt.exceptions import ConfigError, DecorationError
from agentrt.programs.context import require_program
from agentrt.programs.futures import CallFuture
from agentrt.programs.tokens import Tokens

P = ParamSpec("P")
R = TypeVar("R")

PROGRAM_OPTIONS = ("name",)


@dataclass(slots=True, frozen=True)
class Completion:
    """The result of an LLM call. `context` is prompt + output as tokens: extend it for the next turn."""

    text: str
    output: Tokens
    context: Tokens | None
    call_id: str
    prompt_tokens: int
    cached_tokens: int
    output_tokens: int
    finish_reason: str

    def __str__(self) -> str:
        return self.text


class Program(Generic[P, R]):
    """An agent program: an `async def` run by the runtime as a program instance."""

    def __init__(self, fn: Callable[P, Awaitable[R]], *, name: str | None = None) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise DecorationError(
                f"@program needs an `async def` function, got {fn!r}. Define it as "
                f"`async def {getattr(fn, '__name__', 'f')}(...)` and await LLM and tool calls inside.")
        self.fn = fn
        self.name = name or fn.__name__
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> CallFuture[R]:
        """Run as a sub-program of the calling program. Raises NoRuntimeError outside a program."""
        scope = require_program(f"program {self.name!r}")
        return scope.issue_program(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<agentrt.Program {self.name}>"


@overload
def program(fn: Callable[P, Awaitable[R]], /) -> Program[P, R]: ...


@overload
def program(*, name: str | None = None) -> Callable[[Callable[P, Awaitable[R]]], Program[P, R]]: ...


def program(fn: Any = None, /, **options: Any) -> Any:
    """Make an `async def` an agent program. Use bare (`@program`) or with options (`@program(name=...)`).
    The name (default: the function's) is also the program's kind for the scheduler: agentrt's gate
    learns each kind's size from its finished programs (runtime/scheduling/policies/kinds.py), so give
    one agent one name, and different agents different ones.

    Raises DecorationError for a non-async function or an unknown option."""
    unknown = sorted(set(options) - set(PROGRAM_OPTIONS))
    if unknown:
        raise DecorationError(f"unknown @program option(s) {unknown}; valid options: {list(PROGRAM_OPTIONS)}")
    if fn is not None:
        return Program(fn, **options)
    return lambda f: Program(f, **options)


def llm(prompt: str | Sequence[dict[str, str]] | Tokens, *, max_tokens: int, temperature: float = 0.0,
        stop: str | Sequence[str] | None = None, ignore_eos: bool = False, name: str = "llm",
        remaining_work: float | None = None) -> CallFuture[Completion]:
    """Issue an LLM call from inside a program; await the returned future for a `Completion`.

    `prompt` is a string, a list of chat messages ({"role", "content"}), or `Tokens`.
    `ignore_eos=True` generates exactly `max_tokens` tokens (trace replay).
    `remaining_work`: trace replay only, the program's output tokens still to generate from this
    call on, for the clairvoyant `oracle` policy (`SchedHints.remaining_work`).
    Raises NoRuntimeError outside a program, ConfigError for max_tokens <= 0 or a bad prompt.
    """
    scope = require_program("llm()")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0:
        raise ConfigError(f"llm(max_tokens={max_tokens!r}): max_tokens must be a positive int, e.g. max_tokens=256")
    if not (0.0 <= temperature <= 2.0):
        raise ConfigError(f"llm(temperature={temperature!r}): temperature must be in [0, 2]")
    if not isinstance(prompt, (str, Tokens)):
        prompt = _check_messages(prompt)
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    return scope.issue_llm(prompt, {"max_tokens": max_tokens, "temperature": temperature, "stop": stops,
                                    "ignore_eos": ignore_eos, "name": name, "remaining_work": remaining_work})


def _check_messages(messages: Any) -> tuple[dict[str, str], ...]:
    try:
        out = tuple(messages)
    except TypeError:
        out = None
    if not out or not all(isinstance(m, dict) and isinstance(m.get("role"), str)
                          and isinstance(m.get("content"), str) for m in out):
        raise ConfigError("llm(prompt=...) takes a string, Tokens, or a non-empty list of messages "
                          f"like {{'role': 'user', 'content': '...'}}; got {messages!r:.80}")
    return out
