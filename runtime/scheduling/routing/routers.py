"""Routers: which replica runs an LLM call. One class each behind `RouterName` and `make_router`.

Each router is a pure function of a `RoutingState` and the call (`route(state, call) -> Route`);
the front end applies the decision (`state.add_call`). Routers never see engines.

- round-robin: the next live replica, per call (the usual load balancer's default).
- least-loaded: the live replica with the least routed work, per call.
- autellix: Autellix's locality rule. A call whose prompt has at least `locality_min_tokens`
  tokens goes to its program's replica (its KV is there); shorter calls go to the least-loaded one.
- agentrt: a program stays with the replica that holds its KV unless the work ahead of it there
  exceeds the least such work elsewhere by more than re-prefilling its context would cost; a new
  program (or one whose replica died) goes to the replica with the most free KV (capacity minus
  the contexts of the live programs placed there), then the least work ahead. "Work ahead" is the
  routed prefill at the program's own priority level or higher (by globally attained service):
  prefill is what serializes with the call's own prefill under the token budget, while decode runs
  batched alongside it, so counting decode too (as least-loaded does) moves programs away from a
  replica that would have admitted them at once.
- clairvoyant: **a bound, not deployable** (trace replay only, like the `oracle` policy). It knows
  each program's remaining work (`CallInfo.remaining_work`, output tokens still to generate): a
  new program goes to the replica whose live programs have the least remaining decode work plus
  routed prefill, and every program stays with its KV. The distance between agentrt and it is what
  knowing each program's future is worth to a router's placement. (A version that also moved a
  program when the remaining work on its replica exceeded the least elsewhere by more than its
  re-prefill did worse on SWE-bench at the 4-replica knee, 354 s against 326 s: the imbalances it
  chased were transient, and each move re-prefilled a context.)

Alternatives considered: prefix-hash routing as in sgl-router or Ray Serve's prefix-aware router
(matches token prefixes; it finds the KV too, but knows nothing of a program's attained service
or of how much KV its live programs hold between calls), and consistent hashing of program ids
(sticky, but blind to load). Routing by program identity gets the locality of the first and the
load awareness the second lacks, at O(replicas * levels) per decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from agentrt.runtime.scheduling.errors import ConfigError, NoLiveReplicaError, UnknownNameError
from agentrt.runtime.scheduling.routing.state import CallInfo, ReplicaLoad, RoutingState


class RouterName(str, Enum):
    ROUND_ROBIN = "round-robin"
    LEAST_LOADED = "least-loaded"
    AUTELLIX = "autellix"
    AGENTRT = "agentrt"
    CLAIRVOYANT = "clairvoyant"  # a bound for trace replay, not a deployable router


class RouteReason(str, Enum):
    ROUND_ROBIN = "round-robin"
    LEAST_LOADED = "least-loaded"
    STICKY = "sticky"  # stayed with the replica holding the program's KV
    ESCAPED = "escaped"  # left it: the backlog there exceeded the re-prefill cost
    NEW_PROGRAM = "new-program"  # no live holder: most free KV, least work ahead


@dataclass(slots=True, frozen=True)
class Route:
    replica: int
    reason: RouteReason


class Router:
    name: RouterName

    def route(self, state: RoutingState, call: CallInfo) -> Route:
        """The replica for `call`. Raises NoLiveReplicaError when no replica is alive."""
        raise NotImplementedError


def _alive(state: RoutingState) -> list[ReplicaLoad]:
    alive = state.alive()
    if not alive:
        raise NoLiveReplicaError(f"all {len(state.replicas)} replicas are dead; restart them (or the run) to continue")
    return alive


def _least_loaded(state: RoutingState, replicas: list[ReplicaLoad], level: int | None = None) -> ReplicaLoad:
    return min(replicas, key=lambda r: (state.backlog_s(r, level), r.num_calls, r.index))


class RoundRobinRouter(Router):
    name = RouterName.ROUND_ROBIN

    def route(self, state: RoutingState, call: CallInfo) -> Route:
        alive = _alive(state)
        return Route(alive[state.num_routed % len(alive)].index, RouteReason.ROUND_ROBIN)


class LeastLoadedRouter(Router):
    name = RouterName.LEAST_LOADED

    def route(self, state: RoutingState, call: CallInfo) -> Route:
        return Route(_least_loaded(state, _alive(state)).index, RouteReason.LEAST_LOADED)


class AutellixRouter(Router):
    name = RouterName.AUTELLIX

    def route(self, state: RoutingState, call: CallInfo) -> Route:
        alive = _alive(state)
        holder = state.holder(call.program_id)
        if holder is not None and call.num_prompt_tokens >= state.config.locality_min_tokens:
            return Route(holder.index, RouteReason.STICKY)
        return Route(_least_loaded(state, alive).index, RouteReason.LEAST_LOADED)


class AgentRTRouter(Router):
    name = RouterName.AGENTRT

    def route(self, state: RoutingState, call: CallInfo) -> Route:
        alive = _alive(state)
        level = state.config.level(call.program_service)
        holder = state.holder(call.program_id)
        if holder is None:
            best = min(alive, key=lambda r: (-r.free_kv_tokens, state.prefill_backlog_s(r, level), r.index))
            return Route(best.index, RouteReason.NEW_PROGRAM)
        least = min(alive, key=lambda r: (state.prefill_backlog_s(r, level), -r.free_kv_tokens, r.index))
        excess = state.prefill_backlog_s(holder, level) - state.prefill_backlog_s(least, level)
        if excess > state.prefill_s(state.cached_tokens(call.program_id, holder.index)):
            return Route(least.index, RouteReason.ESCAPED)
        return Route(holder.index, RouteReason.STICKY)


class ClairvoyantRouter(Router):
    name = RouterName.CLAIRVOYANT

    def route(self, state: RoutingState, call: CallInfo) -> Route:
        """Raises NoLiveReplicaError, and ConfigError for a call without `remaining_work`."""
        alive = _alive(state)
        if call.remaining_work is None:
            raise ConfigError("the clairvoyant router is a bound for trace replay (agentrt replay/bench): it needs "
                              "each call's remaining_work, which live programs do not have; use --router agentrt")
        holder = state.holder(call.program_id)
        if holder is not None:
            return Route(holder.index, RouteReason.STICKY)
        least = min(alive, key=lambda r: (_future_s(state, r), -r.free_kv_tokens, r.index))
        return Route(least.index, RouteReason.NEW_PROGRAM)


def _future_s(state: RoutingState, replica: ReplicaLoad) -> float:
    """Seconds of work a replica has ahead: its live programs' remaining decode and its routed prefill."""
    return replica.remaining_tokens / state.config.decode_tokens_per_s + state.prefill_backlog_s(replica)


ROUTER_CLASSES: dict[RouterName, type[Router]] = {
    RouterName.ROUND_ROBIN: RoundRobinRouter,
    RouterName.LEAST_LOADED: LeastLoadedRouter,
    RouterName.AUTELLIX: AutellixRouter,
    RouterName.AGENTRT: AgentRTRouter,
    RouterName.CLAIRVOYANT: ClairvoyantRouter,
}


def make_router(name: RouterName | str) -> Router:
    """The router called `name`. Raises UnknownNameError (listing the valid names) otherwise."""
    try:
        return ROUTER_CLASSES[RouterName(name)]()
    except ValueError as exc:
        raise UnknownNameError("router", str(name), [n.value for n in RouterName]) from exc
