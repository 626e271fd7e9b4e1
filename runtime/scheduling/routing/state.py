"""`RoutingState`: what a router knows about replicas and programs, kept incrementally.

The state is plain data updated by the front end at four points (a call is routed, a call ends,
a program ends, a replica dies); routers only read it, so every routing rule is a pure function
of a state that a test can build by hand.

Invariants:
- Work is counted in tokens, per replica and per priority level: a routed call adds its uncached
  prompt tokens (prefill) and its max_tokens (decode) at the level of its program's attained
  service, and its end removes exactly that. Integer sums never drift; `backlog_s` converts them to
  seconds with the configured throughputs only when a router asks.
- Priority levels are global: a level comes from `SchedHints.program_service`, which the one
  runtime in front of all replicas computes from everything the program attained on any replica.
  Level k holds services in [base * 2^(k-1), base * 2^k); level 0 is below `base`.
- A program's holder is the replica that ran its last call; `resident_tokens` of a replica is the
  summed context of the live programs it holds (their KV is pinned or cached there until evicted):
  a routed call's prompt counts from the moment it is routed, its output once it finishes.
  A program leaves its holder when it ends, when it is routed elsewhere, or when the holder dies.
- `remaining_tokens` of a replica is the summed remaining work (output tokens still to generate,
  `CallInfo.remaining_work`) of the live programs it holds: a program's count is set when one of
  its calls is routed and drops by the call's max_tokens when it finishes. Only trace replay knows
  remaining work (a clairvoyant input, read by the `clairvoyant` bound alone); elsewhere it is 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from agentrt.runtime.scheduling.errors import ConfigError


@dataclass(slots=True)
class RouterConfig:
    """Settings shared by the routers.

    prefill_tokens_per_s / decode_tokens_per_s: a replica's throughput when busy, to turn token
        backlogs and re-prefill costs into seconds (`estimate_throughput` derives them from a
        simulator profile).
    locality_min_tokens: Autellix's rule keeps calls with at least this many prompt tokens on the
        program's replica and sends shorter ones to the least-loaded replica.
    service_base_s / num_levels: the attained-service levels of the global priority order.
    """

    prefill_tokens_per_s: float = 20_000.0
    decode_tokens_per_s: float = 5_000.0
    locality_min_tokens: int = 2048
    service_base_s: float = 1.0
    num_levels: int = 12

    def __post_init__(self) -> None:
        for name in ("prefill_tokens_per_s", "decode_tokens_per_s", "service_base_s"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"RouterConfig.{name} must be a positive number, got {value!r}")
        if self.locality_min_tokens < 0 or self.num_levels < 1:
            raise ConfigError(f"RouterConfig needs locality_min_tokens >= 0 and num_levels >= 1, got "
                              f"{self.locality_min_tokens} and {self.num_levels}")

    def level(self, service: float) -> int:
        """The priority level of a program that attained `service` seconds (0 = highest)."""
        if not service >= self.service_base_s:  # also NaN
            return 0
        return min(self.num_levels - 1, int(math.log2(service / self.service_base_s)) + 1)


@dataclass(slots=True, frozen=True)
class CallInfo:
    """What routing needs of one LLM call."""

    call_id: str
    program_id: str
    num_prompt_tokens: int
    max_tokens: int
    program_service: float = 0.0
    remaining_work: float | None = None  # clairvoyant: output tokens from this call on (trace replay)


@dataclass(slots=True)
class ReplicaLoad:
    """One replica as the router sees it. `prefill_by_level[k]` / `decode_by_level[k]`: tokens of
    routed, unfinished calls at priority level k."""

    index: int
    kv_capacity_tokens: int
    num_levels: int
    alive: bool = True
    num_calls: int = 0
    resident_tokens: int = 0
    remaining_tokens: float = 0.0
    prefill_by_level: list[int] = field(default_factory=list)
    decode_by_level: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kv_capacity_tokens < 1:
            raise ConfigError(f"replica {self.index}: kv_capacity_tokens must be >= 1, got {self.kv_capacity_tokens}")
        self.prefill_by_level = self.prefill_by_level or [0] * self.num_levels
        self.decode_by_level = self.decode_by_level or [0] * self.num_levels

    @property
    def free_kv_tokens(self) -> int:
        return self.kv_capacity_tokens - self.resident_tokens


@dataclass(slots=True)
class ProgramPlace:
    """Where a live program's KV is: its holder replica and its context length there."""

    replica: int
    context_tokens: int = 0
    num_calls: int = 0
    remaining_tokens: float = 0.0


@dataclass(slots=True, frozen=True)
class _InFlight:
    replica: int
    program_id: str
    level: int
    prefill: int
    decode: int


class RoutingState:
    """Replicas, live programs and routed calls. Raises ConfigError for an empty replica list."""

    def __init__(self, kv_capacity_tokens: list[int], config: RouterConfig | None = None) -> None:
        if not kv_capacity_tokens:
            raise ConfigError("routing needs at least one replica (--replicas N with N >= 1)")
        self.config = config or RouterConfig()
        n = self.config.num_levels
        self.replicas = [ReplicaLoad(i, cap, n) for i, cap in enumerate(kv_capacity_tokens)]
        self.programs: dict[str, ProgramPlace] = {}
        self.calls: dict[str, _InFlight] = {}
        self.num_routed = 0

    # -- what routers read ------------------------------------------------------------------------
    def alive(self) -> list[ReplicaLoad]:
        return [r for r in self.replicas if r.alive]

    def holder(self, program_id: str) -> ReplicaLoad | None:
        """The live replica holding the program's KV, or None (new program, or its holder died)."""
        place = self.programs.get(program_id)
        return self.replicas[place.replica] if place is not None and self.replicas[place.replica].alive else None

    def cached_tokens(self, program_id: str, replica: int) -> int:
        place = self.programs.get(program_id)
        return place.context_tokens if place is not None and place.replica == replica else 0

    def backlog_s(self, replica: ReplicaLoad, level: int | None = None) -> float:
        """Seconds of routed work on `replica` at priority levels 0..level (all levels: None)."""
        end = self.config.num_levels if level is None else level + 1
        return self.prefill_backlog_s(replica, level) + sum(replica.decode_by_level[:end]) / self.config.decode_tokens_per_s

    def prefill_backlog_s(self, replica: ReplicaLoad, level: int | None = None) -> float:
        """Seconds of routed prefill on `replica` at priority levels 0..level: the work that
        serializes with a new call's own prefill (decode work runs batched alongside it)."""
        end = self.config.num_levels if level is None else level + 1
        return sum(replica.prefill_by_level[:end]) / self.config.prefill_tokens_per_s

    def prefill_s(self, num_tokens: int) -> float:
        return num_tokens / self.config.prefill_tokens_per_s

    # -- updates from the front end ---------------------------------------------------------------
    def add_call(self, call: CallInfo, replica: int) -> None:
        """`call` was sent to `replica`: count its work there and make `replica` its program's holder."""
        cached = min(self.cached_tokens(call.program_id, replica), call.num_prompt_tokens)
        flight = _InFlight(replica, call.program_id, self.config.level(call.program_service),
                           call.num_prompt_tokens - cached, call.max_tokens)
        self._count(flight, +1)
        self.calls[call.call_id] = flight
        self._place(call.program_id, replica, call.num_prompt_tokens, call.remaining_work)
        self.num_routed += 1

    def finish_call(self, call_id: str, context_tokens: int | None = None) -> None:
        """A call ended. `context_tokens`: its prompt + output, now cached on its replica (None: it
        failed or was aborted; the program keeps its previous context)."""
        flight = self.calls.pop(call_id, None)
        if flight is None:
            return
        self._count(flight, -1)
        place = self.programs.get(flight.program_id)
        if context_tokens is not None and place is not None and place.replica == flight.replica:
            self._resize(place, context_tokens)
            self._set_remaining(place, max(0.0, place.remaining_tokens - flight.decode))

    def end_program(self, program_id: str) -> None:
        place = self.programs.pop(program_id, None)
        if place is not None:
            self.replicas[place.replica].resident_tokens -= place.context_tokens
            self.replicas[place.replica].remaining_tokens -= place.remaining_tokens

    def mark_dead(self, replica: int) -> list[str]:
        """`replica` died: route nothing more to it and forget what it held. Returns the ids of
        the calls that were in flight there (they fail; their programs move on their next call)."""
        self.replicas[replica].alive = False
        lost = [call_id for call_id, f in self.calls.items() if f.replica == replica]
        for call_id in lost:
            self.finish_call(call_id)
        for program_id in [p for p, place in self.programs.items() if place.replica == replica]:
            self.end_program(program_id)
        return lost

    # -- helpers ----------------------------------------------------------------------------------
    def _count(self, flight: _InFlight, sign: int) -> None:
        r = self.replicas[flight.replica]
        r.num_calls += sign
        r.prefill_by_level[flight.level] += sign * flight.prefill
        r.decode_by_level[flight.level] += sign * flight.decode

    def _place(self, program_id: str, replica: int, num_prompt_tokens: int, remaining: float | None) -> None:
        place = self.programs.get(program_id)
        if place is None:
            place = self.programs[program_id] = ProgramPlace(replica)
        elif place.replica != replica:  # moved: the old copy is no longer the one we count
            old = self.replicas[place.replica]
            old.resident_tokens -= place.context_tokens
            old.remaining_tokens -= place.remaining_tokens
            place.replica, place.context_tokens, place.remaining_tokens = replica, 0, 0.0
        self._resize(place, num_prompt_tokens)
        if remaining is not None:
            self._set_remaining(place, remaining)
        place.num_calls += 1

    def _set_remaining(self, place: ProgramPlace, remaining: float) -> None:
        self.replicas[place.replica].remaining_tokens += remaining - place.remaining_tokens
        place.remaining_tokens = remaining

    def _resize(self, place: ProgramPlace, context_tokens: int) -> None:
        self.replicas[place.replica].resident_tokens += context_tokens - place.context_tokens
        place.context_tokens = context_tokens
