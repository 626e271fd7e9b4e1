"""Why programs failed, in one line: the distinct errors and how many programs each hit."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from agentrt.exceptions import AllProgramsFailedError
from agentrt.replay.driver import ReplayResult

_IDS = re.compile(r"\bp\d+(\.\d+)*\b")  # program and call ids
_NUMBERS = re.compile(r"\d+(\.\d+)?")


def failure_causes(errors: Iterable[str]) -> dict[str, int]:
    """Count the distinct causes: errors alike but for ids and numbers (token counts, times) are one
    cause, shown by its first example."""
    examples: dict[str, str] = {}
    counts: Counter[str] = Counter()
    for error in errors:
        first = (error.splitlines()[0] if error else "unknown")[:300]
        key = _NUMBERS.sub("N", _IDS.sub("p*", first))
        examples.setdefault(key, _IDS.sub("p*", first))
        counts[key] += 1
    return {examples[key]: n for key, n in counts.most_common()}


def top_causes(errors: Iterable[str], n: int = 3) -> str:
    """`5 x LLMCallError: ...; 1 x ...`: the `n` most frequent causes."""
    return "; ".join(f"{k} x {cause}" for cause, k in list(failure_causes(errors).items())[:n])


def check_not_all_failed(result: ReplayResult, what: str) -> None:
    """Raise AllProgramsFailedError naming the causes when no program of the replay ended ok."""
    if result.metrics and result.summary.num_failed == len(result.metrics):
        raise AllProgramsFailedError(what, failure_causes(m.error or m.status for m in result.metrics))
