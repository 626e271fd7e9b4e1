"""`gather`: run awaitables as parallel branches of the calling program.

Each awaitable runs in its own child branch, which starts from the caller's frontier; when all are
done the caller's frontier becomes the union of the branches' frontiers, so a call issued after
`gather` has every branch's last consumed call as a parent (fan-in). The first error cancels the
other branches and is raised as is (not wrapped in an ExceptionGroup).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import anyio

from agentrt.programs import context


async def gather(*aws: Awaitable[Any]) -> list[Any]:
    """Await all of `aws` concurrently; return their results in order. Raises the first error."""
    results: list[Any] = [None] * len(aws)
    frontiers: list[frozenset[str]] = [context.frontier.get()] * len(aws)
    errors: list[BaseException] = []

    async def branch(i: int, aw: Awaitable[Any], cancel: anyio.CancelScope) -> None:
        try:
            results[i] = await aw
        except Exception as exc:  # recorded and re-raised by gather after the others stop
            errors.append(exc)
            cancel.cancel()
        frontiers[i] = context.frontier.get()

    async with anyio.create_task_group() as tg:
        for i, aw in enumerate(aws):
            tg.start_soon(branch, i, aw, tg.cancel_scope)
    if errors:
        raise errors[0]
    scope = context.current_program.get()
    if scope is not None and aws:
        merged = frozenset().union(*frontiers)
        implied = set().union(*(scope.parents_of(c) for c in merged))
        context.frontier.set(merged - implied)
    return results
