"""`KindSizes`: what agentrt's residency gate knows about a program before it has run: its kind.

A program's kind is its agent (the `@program` function's name; in trace replay the agent that
recorded the trace; on `agentrt serve` the client's `X-Agentrt-Program-Kind` header, else its
system prompt). Programs of one kind have sizes alike, and kinds differ by orders of magnitude
(bundled traces: BFCL function-calling programs attain a few seconds of service, SWE-bench agents
hundreds), while a new program's first prompt tells the two apart no better than chance
(docs/scheduling.md, "Eleventh pass"). So the gate admits programs of a kind known to be short
before those of a kind known to be long: each kind's size is the mean service of its programs
seen so far (finished ones: their service; live ones: what they have attained, a lower bound that
grows while they run), learned online, never from the future. A kind is ranked behind another
only when its mean is over `ratio` times the other's and the other has at least `min_finished`
finished programs; otherwise the gate's order is agentrt's as before (one kind of program: always).

Alternatives measured (docs/scheduling.md, "Twelfth pass"): the kind's rank in every queue's
order, not only the gate's (a known-short call before a long program's call of any level); a
ratio of 2 or 10; short kinds admitted past the gate's budget; a long kind's calls ordered as
known-long from the first (most attained first). Each lost somewhere the kept rule did not.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable

from agentrt.runtime.scheduling.policies.base import ProgramState

MAX_KINDS = 1024  # finished kinds remembered (the least recently ended forgotten): a server sees unbounded names


class KindSizes:
    """Per program kind: its programs' mean service so far, and the rank of each kind at the gate."""

    def __init__(self, ratio: float, min_finished: int = 2, max_kinds: int = MAX_KINDS) -> None:
        if ratio <= 1.0 or min_finished < 1 or max_kinds < 1:
            raise ValueError(f"need ratio > 1, min_finished >= 1, max_kinds >= 1; got {ratio}, "
                             f"{min_finished}, {max_kinds}")
        self.ratio = ratio
        self.min_finished = min_finished
        self.max_kinds = max_kinds
        self._live: dict[str, dict[str, ProgramState]] = {}  # kind -> its live programs
        self._done: OrderedDict[str, tuple[int, float]] = OrderedDict()  # kind -> (finished, their service)

    def seen(self, program: ProgramState) -> None:
        """A call of `program` arrived (idempotent)."""
        if program.kind is not None:
            self._live.setdefault(program.kind, {})[program.program_id] = program

    def ended(self, program: ProgramState) -> None:
        """`program` ended with `program.service` attained."""
        kind = program.kind
        if kind is None:
            return
        live = self._live.get(kind)
        if live is not None:
            live.pop(program.program_id, None)
            if not live:
                del self._live[kind]
        n, total = self._done.pop(kind, (0, 0.0))
        self._done[kind] = (n + 1, total + program.service)
        if len(self._done) > self.max_kinds:
            self._done.popitem(last=False)

    def mean(self, kind: str) -> float:
        """Mean service of the kind's programs so far (live ones count what they have attained)."""
        n, total = self._done.get(kind, (0, 0.0))
        live = self._live.get(kind, {})
        count = n + len(live)
        return (total + sum(p.service for p in live.values())) / count if count else 0.0

    def ranks(self, kinds: Iterable[str | None]) -> dict[str, int]:
        """For `kinds` (those of the gated programs), kind -> how many known kinds its mean is over
        `ratio` times (0: goes first; only kinds above 0 are returned). A kind never ranks behind
        itself (its mean is not over `ratio` times its own), so with one kind this is empty. Cost:
        the known kinds' means and a binary search per kind asked for, once per admission pass."""
        known = sorted(m * self.ratio for kind, (n, _) in self._done.items()
                       if n >= self.min_finished and (m := self.mean(kind)) > 0.0)
        if not known:
            return {}
        ranks = {}
        for kind in set(kinds):
            if kind is not None and (rank := bisect_left(known, self.mean(kind))):
                ranks[kind] = rank
        return ranks
