"""User-facing policy configuration (pydantic): names, queue structure, anti-starvation, pinning.

Units: every time is seconds of engine time (service as defined in `policies/base.py`). The
defaults are sized for LLM serving where one call receives ~0.05-5 s of service and a program
~10-300 s in total.
"""

from __future__ import annotations

import enum
import math

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PolicyName(str, enum.Enum):
    FCFS = "fcfs"
    PLAS = "plas"
    ATLAS = "atlas"
    MLFQ = "mlfq"
    CONTINUUM = "continuum"
    AGENTRT = "agentrt"
    GITTINS = "gittins"
    ORACLE = "oracle"  # clairvoyant bound (trace replay only): never a default


class PolicyConfig(BaseModel):
    """A policy and its settings. Invalid values raise `pydantic.ValidationError` naming them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: PolicyName = Field(PolicyName.AGENTRT, description="Which policy.")

    # -- Autellix discretized queues (plas, atlas, agentrt) ------------------------------------
    num_queues: int = Field(
        10, ge=1, le=64,
        description="K, the number of priority queues. Default 10: with the default boundaries the "
                    "last queue starts at 256 s, past the ~300 s a large program attains.")
    first_boundary: float = Field(
        1.0, gt=0,
        description="Upper end (s of service) of queue 0 when `boundaries` is not given. Default 1 s: "
                    "about one call's service, so a program leaves the top queue after its first "
                    "large call.")
    boundary_growth: float = Field(
        2.0, gt=1,
        description="Ratio between consecutive queue boundaries when `boundaries` is not given "
                    "(exponential spacing, as Autellix). Default 2.")
    boundaries: tuple[float, ...] | None = Field(
        None,
        description="Explicit K-1 strictly increasing, positive queue boundaries (s of service); "
                    "queue i holds priorities in [boundaries[i-1], boundaries[i]). Overrides "
                    "`first_boundary`/`boundary_growth`.")
    quanta: tuple[float, ...] | None = Field(
        None,
        description="Explicit K positive quanta (s of a call's own service before it is demoted one "
                    "queue). Default: the width of each queue's priority range (queue 0: its upper "
                    "boundary; the last queue: never demoted).")
    beta: float = Field(
        4.0, gt=0,
        description="Anti-starvation ratio: a waiting call whose (program wait + call wait) / "
                    "(program service + call service) reaches beta is promoted to queue 0. "
                    "Default 4 (our choice; Autellix leaves it configurable): a program may wait "
                    "four times the service it has received before it jumps the queue.")

    # -- FastServe skip-join MLFQ (mlfq) -------------------------------------------------------
    mlfq_num_queues: int = Field(
        8, ge=1, le=64,
        description="Number of MLFQ levels. Default 8: quanta 0.1 s .. 12.8 s cover one call's service.")
    mlfq_base_quantum: float = Field(
        0.1, gt=0,
        description="Quantum of the top MLFQ level (s); level i has base * 2**i, as FastServe. "
                    "Default 0.1 s: a short prefill plus a few decode steps.")
    mlfq_starvation_limit: float = Field(
        10.0, gt=0,
        description="A call waiting this long (s) since it was last served is promoted to the top "
                    "level (FastServe's starvation threshold). Default 10 s.")

    # -- pinning (continuum, agentrt) ----------------------------------------------------------
    max_ttl: float = Field(
        60.0, ge=0,
        description="Longest pin (s). Default 60 s: longer tools are cheaper to re-prefill after.")
    pin_idle_cost: float = Field(
        0.01, ge=0,
        description="f(0) in the cost rate c = kv_share * f(demand): what holding KV costs when "
                    "nothing waits for memory. Default 0.01: nearly free.")
    max_demand_factor: float = Field(
        10.0, gt=0,
        description="Cap on the demand term of f(demand) = pin_idle_cost + min(demand, cap). Default 10.")
    max_pinned_fraction: float = Field(
        0.5, gt=0, le=1,
        description="agentrt only: pins never hold more than this fraction of the KV cache. "
                    "Default 0.5: at least half the cache stays available to running calls.")
    pinned_first: bool = Field(
        True,
        description="agentrt only: inside a queue, calls of programs whose KV is pinned go first, if they "
                    "arrived while memory was short (waiting calls wanted more KV blocks than were free at the "
                    "last pin decision): they prefill little, and admitting them ends the pin before pressure "
                    "releases it. While memory is not short (an engine bound by batch slots) the queue is by "
                    "arrival, else the same programs keep the slots. False: no pinned-first tie-break (a queue "
                    "of calls that arrived while memory was short is then by program arrival, then call arrival: "
                    "docs/scheduling.md, \"Tenth pass\"; pinned-first measured in the README, \"Workloads, the "
                    "oracle, and what closes the gap\").")
    atlas_always: bool = Field(
        False,
        description="agentrt only: order every call by ATLAS level (and pinned-first), as Autellix does, "
                    "not only the calls that arrive while KV memory is short. Default False: on an engine "
                    "bound by batch slots least-attained-service order lost to arrival order on the "
                    "measured agent traces.")
    nearest_end_level: int | None = Field(
        6, ge=1,
        description="agentrt only: while KV memory is short, the queues from this one down (with the default "
                    "boundaries: programs that have attained >= 32 s of service) are one queue ordered by the "
                    "program's attained service, "
                    "most first: a program known to be long is likelier near its end the more it has run "
                    "(SWE-bench agents' remaining turns shrink as they run), where least-attained-service "
                    "would favour the newest long program. Above it, ATLAS's least-attained order still puts "
                    "programs that may be short first. None: ATLAS order in every queue. Default 6, measured "
                    "in docs/scheduling.md (\"Ordering known-long programs\").")
    kind_gate_ratio: float | None = Field(
        4.0, gt=1.0,
        description="agentrt only: residency gating admits programs of a kind known to be short before those of "
                    "a kind known to be long (a program's kind: its @program name, a trace's agent, a served "
                    "client's X-Agentrt-Program-Kind header or system prompt). A kind whose programs' mean "
                    "service so far is over this ratio times another kind's (with >= 2 finished programs) "
                    "waits behind it at the gate. None: off (the gate's order ignores kinds). Default 4, "
                    "measured in docs/scheduling.md (\"Twelfth pass\").")
    order_preemption_level: int | None = Field(
        3, ge=0,
        description="agentrt only: while KV memory is short, a waiting call may preempt a running call of a later "
                    "queue to get its memory only if the victim's program has attained this queue's service (the "
                    "last queue's if there are fewer; with the default boundaries >= 4 s), whatever queue "
                    "anti-starvation has put the victim's call in. The victim's program leaves the working "
                    "set and waits at the gate to rejoin; on a KV cache that holds a couple of contexts a program "
                    "that had attained little waited seconds there behind the programs admitted in its place, "
                    "where finishing it was cheap. None: any later queue. Default 3, measured in docs/scheduling.md "
                    "(\"Ninth pass\"; measured before session 7's pin fix, which moved agentrt again): on the "
                    "calibrated vLLM CPU settings agentrt gains (12 programs: 8.38 -> 7.74 s), `make run` and "
                    "the H100 runs measured are unchanged but one (slightly faster); "
                    "with no preemption for order at all `make run` at 0.1/s was 1.33x slower.")
    residency_fraction: float | None = Field(
        0.9, gt=0.0, le=1.0,
        description="agentrt only: calls of a program not yet in the KV working set are admitted only "
                    "while the resident programs' contexts plus its own fit in this fraction of the KV "
                    "cache (the rest is headroom for outputs and growing contexts). Without it, every "
                    "arriving program takes KV memory and, once contexts outgrow the cache, all of them "
                    "thrash: each turn re-prefills a context that LRU evicted during its tool call. A memory "
                    "preemption also shrinks the working set, so the fraction only has to leave headroom "
                    "for growth; lower fractions make programs wait while memory is not short. None turns gating "
                    "off. The default 0.9 is measured in the README (\"Workloads, the oracle, and what closes "
                    "the gap\").")
    residency_backfill_s: float = Field(
        30.0, ge=0.0,
        description="agentrt only: a program whose context does not fit the working set's room is "
                    "skipped, and smaller programs behind it are admitted, until it has waited this long; "
                    "from then on admission stops at it until it fits (0: strict queue order). Default "
                    "30 s: about one SWE-bench program's turn under load; short function-calling "
                    "programs pass a long one whose context does not fit instead of waiting behind it.")
    residency_idle_s: float = Field(
        60.0, gt=0.0,
        description="agentrt only: the longest a resident program with no call in flight and no pin may "
                    "stay in the working set while a new program is waiting for room (a program parked in a "
                    "long tool call must not hold the door shut); `residency_idle_reprefill` usually lets it "
                    "go sooner. Default: max_ttl's default.")
    residency_idle_reprefill: float | None = Field(
        16.0, gt=0.0,
        description="agentrt only: while a program waits for room, a resident program with no call in flight "
                    "and no pin leaves the working set once it has been idle this many times the engine's "
                    "estimate of prefilling its context again (at its last call's finish), or after "
                    "`residency_idle_s` if that is sooner; the early release happens only where it admits "
                    "someone (the smallest gated program then fits the budget) or the resident contexts "
                    "overflow the KV cache itself (thrashing), earliest due first: where prefill is cheap "
                    "against the tool gaps the gate stops idling the engine for a context that is quick to "
                    "rebuild, and where it is dear the context stays. None: `residency_idle_s` only. "
                    "Default 16, measured in "
                    "docs/scheduling.md (\"Eighth pass\"): factors 1-4 lost to the fixed limit on the calibrated vLLM "
                    "CPU replay (re-admission costs the gate's queue too, not only the prefill), 8-24 won "
                    "there, 32 changed nothing; an early release that admitted nobody lost 1.20x on one "
                    "held-out H100 cell (\"Held out\").")

    @model_validator(mode="after")
    def _check_queues(self) -> PolicyConfig:
        k = self.num_queues
        if self.boundaries is not None:
            b = self.boundaries
            if len(b) != k - 1:
                raise ValueError(f"boundaries={b!r} has {len(b)} values; num_queues={k} needs {k - 1}")
            if any(not math.isfinite(x) or x <= 0 for x in b):
                raise ValueError(f"boundaries={b!r} must be finite and > 0")
            if any(x >= y for x, y in zip(b, b[1:])):
                raise ValueError(f"boundaries={b!r} must be strictly increasing")
        if self.quanta is not None:
            q = self.quanta
            if len(q) != k:
                raise ValueError(f"quanta={q!r} has {len(q)} values; num_queues={k} needs {k}")
            if any(math.isnan(x) or x <= 0 for x in q):
                raise ValueError(f"quanta={q!r} must be > 0")
        return self

    # -- derived ------------------------------------------------------------------------------
    def queue_boundaries(self) -> tuple[float, ...]:
        """The K-1 upper boundaries of queues 0..K-2 (s of service)."""
        if self.boundaries is not None:
            return self.boundaries
        return tuple(self.first_boundary * self.boundary_growth ** i for i in range(self.num_queues - 1))

    def queue_quanta(self) -> tuple[float, ...]:
        """The K quanta (s of a call's own service per queue); the last is infinite by default."""
        if self.quanta is not None:
            return self.quanta
        b = (0.0, *self.queue_boundaries())
        return tuple(hi - lo for lo, hi in zip(b, b[1:])) + (math.inf,)

    def mlfq_quanta(self) -> tuple[float, ...]:
        """The MLFQ quanta, growing 2x per level; the last level is never demoted from."""
        return tuple(self.mlfq_base_quantum * 2 ** i for i in range(self.mlfq_num_queues))
