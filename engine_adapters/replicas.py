"""`ReplicatedEngine`: N engine replicas behind one `Engine`, a router choosing per call.

The runtime sees one engine. Each LLM call is routed by a router from `agentrt.runtime.scheduling.routing`
(a pure decision on a `RoutingState` this class keeps up to date), then runs on that replica;
aborts follow the call, tool hints go to the program's replica, and a program's end is sent to
every replica that ran one of its calls. Program priorities are global: the one runtime in front
computes each call's `SchedHints` (attained service, critical path) from everything the program
attained on any replica, and every replica's scheduler orders by them.

A program that moves is released on the replica it leaves (as if it had ended there): each
replica's scheduler gates admission on the contexts of the programs it holds (residency gating),
and a program that has moved on would otherwise hold its place there until its end; two replicas
each holding a place for a program whose next call waits on the other would never admit either.

Routing order: a router's decision depends on the calls routed before it (round-robin's turn,
least-loaded's counts). With a `sequencer` (simulated replicas on one virtual clock), the calls
that reach the router at one instant are routed together, in (program, call) order, once every
other task has blocked, so a run does not depend on the order trio runs tasks woken together.
Without one (real engines), calls are routed as they arrive.

Failure: a replica whose call raises `EngineError` (process or actor gone, stopped) is marked
dead. Its in-flight calls fail with `ReplicaDiedError`, its programs lose their placement (their
next call is routed as a new program's, to a live replica) and the others keep serving.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from agentrt.engine_adapters.base import Engine, GenerationRequest, GenerationResult, prompt_to_tokens
from agentrt.exceptions import ConfigError, EngineError, LLMCallError, ReplicaDiedError
from agentrt.runtime.scheduling.routing import CallInfo, Route, Router, RouterConfig, RoutingState, make_router

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from agentrt.runtime.scheduling.policies.config import PolicyConfig


class RouteSequencer(Protocol):
    """What orders routing on a shared virtual clock (the simulator's `Lockstep`)."""

    @property
    def running(self) -> bool: ...

    def sequence_routes(self, route: Callable[[], bool]) -> None: ...

    def poke(self) -> None: ...


@dataclass(slots=True)
class _Unrouted:
    """A call waiting for its routing turn; `route` (or `error`) is set when `done` is."""

    request: GenerationRequest
    done: anyio.Event
    route: tuple[int, int | None] | None = None
    error: Exception | None = None


@dataclass(slots=True, frozen=True)
class ReplicaStats:
    """Routing counters and each replica's own statistics.

    routes: decisions by reason (`RouteReason` values); calls_per_replica: calls routed to each;
    moves: calls routed away from the replica that held their program's KV."""

    router: str
    num_replicas: int
    dead: tuple[int, ...]
    routes: dict[str, int]
    calls_per_replica: tuple[int, ...]
    moves: int
    replicas: tuple[Any, ...]

    def totals(self) -> dict[str, Any]:
        """Routing counters plus the replicas' numeric statistics summed (for results.json)."""
        out: dict[str, Any] = {"router": self.router, "num_replicas": self.num_replicas, "dead": list(self.dead),
                               "routes": dict(self.routes), "calls_per_replica": list(self.calls_per_replica),
                               "moves": self.moves}
        for stats in self.replicas:
            for key, value in _numeric(stats).items():
                out[key] = max(out.get(key, value), value) if key.startswith("max_") else out.get(key, 0) + value
        return out


    def __getattr__(self, name: str) -> Any:
        """A replica statistic by name (e.g. `num_prompt_tokens`), summed over the replicas, so
        readers of one engine's statistics (the server's /metrics) read the fleet's."""
        if not name.startswith("_"):
            totals = self.totals()
            if name in totals:
                return totals[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")


def _numeric(stats: Any) -> dict[str, float]:
    fields = getattr(stats, "__dataclass_fields__", {})
    values = {k: getattr(stats, k) for k in fields}
    return {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class ReplicatedEngine(Engine):
    """`engines` behind `router` (a `Router` or its name: round-robin, least-loaded, autellix,
    agentrt). `kv_capacity_tokens`: each replica's KV cache size (default: the engine's
    `kv_capacity_tokens` attribute). `on_route(request, route)` is told each decision. `sequencer`:
    routes the calls of one instant in (program, call) order (see above). Raises ConfigError without engines, UnknownNameError for an
    unknown router."""

    name = "replicas"

    def __init__(self, engines: Sequence[Engine], router: Router | str = "agentrt", *,
                 config: RouterConfig | None = None, kv_capacity_tokens: Sequence[int] | None = None,
                 on_route: Callable[[GenerationRequest, Route], None] | None = None,
                 sequencer: RouteSequencer | None = None) -> None:
        if not engines:
            raise ConfigError("ReplicatedEngine needs at least one engine replica")
        self.engines = list(engines)
        self.router = router if isinstance(router, Router) else make_router(router)
        caps = list(kv_capacity_tokens or [getattr(e, "kv_capacity_tokens", 1 << 20) for e in self.engines])
        self.state = RoutingState(caps, config)
        self._routes: Counter[str] = Counter()
        self._calls_per_replica = [0] * len(self.engines)
        self._moves = 0
        self._program_replicas: dict[str, set[int]] = {}
        self.on_route = on_route
        self._sequencer = sequencer
        self._unrouted: list[_Unrouted] = []
        if sequencer is not None:
            sequencer.sequence_routes(self._route_unrouted)

    async def start(self, policy: PolicyConfig, task_group: TaskGroup) -> None:
        for engine in self.engines:
            await engine.start(policy, task_group)

    async def stop(self) -> None:
        for engine in self.engines:
            await engine.stop()

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Route the call and run it there. Raises what the replica raises, and ReplicaDiedError
        when the replica fails with EngineError (it is then marked dead) or is already dead."""
        index, left = await self._route_in_order(request)
        if left is not None:  # the program moved: its old replica stops counting it as resident
            self._program_replicas[request.program_id].discard(left)
            await self.engines[left].release_program(request.program_id)
        try:
            result = await self.engines[index].generate(request)
        except LLMCallError:
            self.state.finish_call(request.call_id)
            raise
        except EngineError as exc:
            self.mark_dead(index)
            raise (exc if isinstance(exc, ReplicaDiedError) else ReplicaDiedError(index, str(exc))) from exc
        except BaseException:
            self.state.finish_call(request.call_id)
            raise
        self.state.finish_call(request.call_id, result.num_prompt_tokens + result.num_output_tokens)
        return result

    async def abort(self, call_id: str) -> None:
        flight = self.state.calls.get(call_id)
        if flight is not None and self.state.replicas[flight.replica].alive:
            await self.engines[flight.replica].abort(call_id)

    async def release_program(self, program_id: str) -> None:
        self.state.end_program(program_id)
        for index in sorted(self._program_replicas.pop(program_id, ())):
            if self.state.replicas[index].alive:
                await self.engines[index].release_program(program_id)

    async def hint_tool(self, program_id: str, tool_name: str, gap_samples: tuple[float, ...]) -> None:
        holder = self.state.holder(program_id)
        if holder is not None:
            await self.engines[holder.index].hint_tool(program_id, tool_name, gap_samples)

    def mark_dead(self, index: int) -> list[str]:
        """Route nothing more to replica `index`; returns the ids of the calls that were in flight there."""
        if not self.state.replicas[index].alive:
            return []
        return self.state.mark_dead(index)

    def statistics(self) -> ReplicaStats:
        return ReplicaStats(router=self.router.name.value, num_replicas=len(self.engines),
                            dead=tuple(r.index for r in self.state.replicas if not r.alive),
                            routes=dict(sorted(self._routes.items())), calls_per_replica=tuple(self._calls_per_replica),
                            moves=self._moves, replicas=tuple(e.statistics() for e in self.engines))

    async def _route_in_order(self, request: GenerationRequest) -> tuple[int, int | None]:
        """`_route`, at the sequencer's turn when it is running (at once otherwise)."""
        if self._sequencer is None or not self._sequencer.running:
            return self._route(request)
        entry = _Unrouted(request, anyio.Event())
        self._unrouted.append(entry)
        self._sequencer.poke()
        try:
            await entry.done.wait()
        except BaseException:
            if entry.route is None:
                self._unrouted.remove(entry)
            else:
                self.state.finish_call(request.call_id)
            raise
        if entry.error is not None:
            raise entry.error
        assert entry.route is not None, "a routed call has its route"
        return entry.route

    def _route_unrouted(self) -> bool:
        """Route the waiting calls in (program, call) order; False when none waited."""
        if not self._unrouted:
            return False
        batch = sorted(self._unrouted, key=lambda e: (e.request.program_id, e.request.call_id))
        self._unrouted.clear()
        for entry in batch:
            try:
                entry.route = self._route(entry.request)
            except Exception as exc:  # NoLiveReplicaError: raised in the caller's task
                entry.error = exc
            entry.done.set()
        return True

    def _route(self, request: GenerationRequest) -> tuple[int, int | None]:
        """The replica for the call, and the live replica its program leaves (or None)."""
        info = CallInfo(request.call_id, request.program_id, len(prompt_to_tokens(request.prompt)),
                        request.max_tokens, request.hints.program_service, request.hints.remaining_work)
        route = self.router.route(self.state, info)
        holder = self.state.holder(request.program_id)
        left = holder.index if holder is not None and holder.index != route.replica else None
        self._moves += left is not None
        self.state.add_call(info, route.replica)
        self._routes[route.reason.value] += 1
        self._calls_per_replica[route.replica] += 1
        self._program_replicas.setdefault(request.program_id, set()).add(route.replica)
        if self.on_route is not None:
            self.on_route(request, route)
        return route.replica, left

