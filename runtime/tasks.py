"""`start_soon`: start a task in an anyio task group, without anyio's per-task wrapper on trio.

The runtime starts a task per program and per tool or sub-program call. anyio 4.16's
`TaskGroup.start_soon` wraps each task in a `TaskHandle` (a cancel scope of its own and a
finished event) that the runtime never reads: on trio that took a task from 11 us to 39 us of CPU
to start and run (benchmarks/README.md), a tenth of the simulator's cost per call at 10,000
programs. On trio the task goes straight into the task group's nursery instead: cancellation and
error propagation are the nursery's in both cases (anyio's trio task group is a trio nursery).

Alternatives considered: a trio nursery of the runtime's own (the runtime would not run on asyncio
any more, which vLLM needs), and anyio's `create_task` (the same wrapper).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from anyio.abc import TaskGroup


def start_soon(task_group: TaskGroup, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any, name: str | None = None) -> None:
    """`task_group.start_soon(fn, *args, name=name)`, straight into its nursery on trio (when the
    task group is anyio's trio one, which keeps it in `_nursery`; otherwise through anyio)."""
    nursery = getattr(task_group, "_nursery", None)
    if nursery is not None:
        nursery.start_soon(fn, *args, name=name)
    else:
        task_group.start_soon(fn, *args, name=name)


def bypasses_anyio(task_group: TaskGroup) -> bool:
    """Whether `start_soon` starts tasks in `task_group` without anyio's wrapper (for a test that
    notices an anyio release that moves the nursery)."""
    return getattr(task_group, "_nursery", None) is not None
