"""`HeldRequests`: requests that residency gating keeps out of vLLM's waiting queue.

A call of a program outside the working set waits in the ProgramScheduler's pending queue. vLLM
must not admit it, so its request leaves vLLM's waiting queue but stays known to vLLM
(`Scheduler.requests`: an abort still finds it), and returns to the waiting queue once its
program joins the working set. Held requests count as unfinished, so the engine keeps stepping
(and so keeps deciding) while they wait."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentrt.runtime.scheduling import CallState


class HeldRequests:
    def __init__(self) -> None:
        self._requests: dict[str, Any] = {}  # by request id

    def __len__(self) -> int:
        return len(self._requests)

    def hold(self, waiting: Any, request: Any) -> None:
        """Take `request` out of vLLM's `waiting` queue."""
        waiting.remove_request(request)
        self._requests[request.request_id] = request

    def drop(self, request_id: str) -> None:
        """The request ended (finished or aborted)."""
        self._requests.pop(request_id, None)

    def sync(self, waiting: Any, calls: Mapping[str, CallState], order: list[CallState]) -> None:
        """Held requests whose programs joined the working set go back to vLLM's `waiting` queue;
        waiting requests whose programs left it (after a preemption) are held."""
        leaving = [r for r in waiting if (c := calls.get(r.request_id)) is not None and c.pending]
        if leaving:
            waiting.remove_requests(leaving)
            self._requests.update((r.request_id, r) for r in leaving)
        if self._requests:
            for call in order:
                request = self._requests.pop(call.call_id, None)
                if request is not None:
                    waiting.add_request(request)
