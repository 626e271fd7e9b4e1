"""Whether the server's engine still serves, and why not: what `/health` and every call check.

The engine runs on a thread of its own (engine_thread.py); an engine that dies there (its loop
raises: a bug in a policy, a lost device) ends only that thread: the server records why and goes
on answering. Calls in flight fail at once with a 503 in OpenAI's error shape (they would
otherwise wait forever for an engine that will never answer), new calls get the same 503, and
`/health` answers 503 with the reason; the programs, their finished calls and the metrics are
kept and still served (`/v1/programs`, `/metrics`). vLLM's server (vllm_middleware.py) answers its
engine core's death through the same object.

Alternative considered: exiting the process, as vLLM's own server does by default. An
orchestrator restarts it either way (its health probe fails), but an exit loses the record of
what finished and why the engine died.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio

from agentrt.exceptions import ServeError
from agentrt.serve import errors


class EngineHealth:
    """The engine's state as the server sees it: alive until `died(reason)`."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self._scopes: set[anyio.CancelScope] = set()  # calls in flight, cancelled when the engine dies

    @property
    def alive(self) -> bool:
        return self.reason is None

    def died(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            for scope in self._scopes:
                scope.cancel()

    @contextmanager
    def cancel_on_death(self, scope: anyio.CancelScope) -> Iterator[None]:
        """Within the block, the engine's death cancels `scope` (at once if it is already dead).
        A registration, not a task per call: a waiting task per request cost a spawn per call."""
        if not self.alive:
            scope.cancel()
        self._scopes.add(scope)
        try:
            yield
        finally:
            self._scopes.discard(scope)

    def error(self) -> ServeError:
        """The 503 a call gets once the engine is dead."""
        return ServeError(503, f"the engine is not serving: {self.reason}; restart `agentrt serve` (finished "
                          "programs stay readable at /v1/programs until then)", kind="server_error",
                          code="engine_unavailable")

    def check(self) -> None:
        """Raises the 503 ServeError if the engine is dead."""
        if not self.alive:
            raise self.error()

    def body(self) -> dict[str, Any]:
        """What `/health` answers (200 when alive, else 503)."""
        if self.alive:
            return {"status": "ok"}
        error = self.error()
        return {"status": "engine_dead", "reason": self.reason} | errors.error_body(error.message, error.kind,
                                                                                  code=error.code)


def describe(exc: BaseException) -> str:
    """`Type: message` of the first error in `exc` (task groups wrap errors in ExceptionGroups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
