"""How the ProgramScheduler's order reaches vLLM: each request's rank, written into
`Request.priority` (vLLM runs with `scheduling_policy="priority"`: lower runs first).

Waiting requests are ranked by their place in `order_waiting`'s order (unranked ones, e.g. the
victims of this step's preemptions, last) and their queues re-heapified (priorities changed in
place break a heap); running requests are ranked by the same sort key, so that vLLM's own victim
when a running request cannot grow, `max(running, key=priority)`, is `ProgramScheduler.pick_victim`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from agentrt.runtime.scheduling import CallState
from agentrt.runtime.scheduling.pinning import SortKey

UNRANKED = 1 << 62  # priority of a request until a step ranks it


def rank(order: list[CallState], queues: Iterable[Any], running: list[Any], calls: Mapping[str, CallState],
         sort_key: Callable[[CallState], SortKey]) -> None:
    """Write each request's rank into `request.priority`: the waiting ones in `queues` (vLLM's
    request queues) by `order`, the `running` ones by `sort_key`."""
    place = {call.call_id: i for i, call in enumerate(order)}
    for queue in queues:
        if not queue:
            continue
        requests = list(queue)
        for request in requests:
            request.priority = place.get(request.request_id, UNRANKED)
        queue.remove_requests(requests)  # re-heapify with public methods only
        for request in requests:
            queue.add_request(request)
    ranked = sorted((r for r in running if r.request_id in calls), key=lambda r: sort_key(calls[r.request_id]))
    for i, request in enumerate(ranked):
        request.priority = i
