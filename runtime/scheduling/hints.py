"""`SchedHints`: the policy's inputs for one call, as the runtime computes them and engines pass on.

A plain slotted dataclass, read-only by convention (`frozen=True` makes construction ~3x slower,
and one is built per LLM call on the runtime's hot path).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SchedHints:
    """The policy's inputs for one call, computed by the runtime when the call is issued.

    program_service: service the program had attained when the call was issued (PLAS).
    priority: critical-path service of the call's parents, max over parents of p(k) + t(k) (ATLAS).
    gap_samples: recent observed gaps (s) between a call's finish and this program's next call,
        or the durations of the tool expected next; the TTL decision's distribution.
    remaining_work: clairvoyant, known only in trace replay: the program's output tokens still to
        generate from this call on (this call's included). Only the `oracle` policy (a bound, not a
        deployable policy) reads it; None elsewhere.
    program_kind: which agent the program is (the root `@program`'s name; a trace's `source`; a
        served client's `X-Agentrt-Program-Kind` header or system prompt): agentrt's gate learns
        sizes per kind (policies/kinds.py). None: unknown.
    """

    program_arrival: float = 0.0
    program_service: float = 0.0
    priority: float = 0.0
    gap_samples: tuple[float, ...] = ()
    remaining_work: float | None = None
    program_kind: str | None = None
