"""Routers decide exactly on hand-built states."""

from __future__ import annotations

import pytest

from agentrt.runtime.scheduling.errors import ConfigError, NoLiveReplicaError, UnknownNameError
from agentrt.runtime.scheduling.routing import CallInfo, RouteReason, RouterConfig, RoutingState, make_router

# 1,000 prefill tokens = 1 s and 100 decode tokens = 1 s, so backlogs read as whole seconds.
CONFIG = RouterConfig(prefill_tokens_per_s=1000.0, decode_tokens_per_s=100.0, locality_min_tokens=2048,
                      service_base_s=1.0, num_levels=4)


def make_state(num_replicas: int = 3, kv: int = 100_000) -> RoutingState:
    return RoutingState([kv] * num_replicas, CONFIG)


def call(program: str, prompt: int = 100, out: int = 0, service: float = 0.0, call_id: str | None = None,
         remaining: float | None = None) -> CallInfo:
    return CallInfo(call_id or f"{program}/{prompt}/{service}", program, prompt, out, service, remaining)


def load(state: RoutingState, replica: int, seconds: float, service: float = 0.0, program: str = "bg") -> None:
    """Put `seconds` of unfinished prefill work on `replica` at `service`'s priority level."""
    call_id = f"load-{len(state.calls)}"
    state.add_call(call(f"{program}-{call_id}", int(seconds * 1000), 0, service, call_id=call_id), replica)


def settle(state: RoutingState, info: CallInfo, replica: int, context: int) -> None:
    state.add_call(info, replica)
    state.finish_call(info.call_id, context)


def test_round_robin_cycles_over_live_replicas() -> None:
    state, router = make_state(3), make_router("round-robin")
    picked = []
    for i in range(4):
        route = router.route(state, call("p", call_id=f"c{i}"))
        state.add_call(call("p", call_id=f"c{i}"), route.replica)
        picked.append(route.replica)
    assert picked == [0, 1, 2, 0]
    state.mark_dead(1)
    state.add_call(call("p", call_id="c4"), router.route(state, call("p", call_id="c4")).replica)
    assert state.calls["c4"].replica == 0 and router.route(state, call("p")).replica == 2  # [0, 2] from the 5th


def test_least_loaded_picks_least_work() -> None:
    state, router = make_state(3), make_router("least-loaded")
    load(state, 0, 5.0)
    load(state, 1, 2.0)
    load(state, 2, 3.0)
    assert router.route(state, call("p")).replica == 1


def test_autellix_long_calls_stick_short_calls_balance() -> None:
    state, router = make_state(2), make_router("autellix")
    settle(state, call("p", prompt=3000, call_id="c0"), 0, 3100)
    load(state, 0, 9.0)
    assert router.route(state, call("p", prompt=3500)).replica == 0
    assert router.route(state, call("p", prompt=3500)).reason is RouteReason.STICKY
    assert router.route(state, call("p", prompt=1000)).replica == 1  # short: least loaded


def test_agentrt_stays_while_the_backlog_excess_is_below_the_reprefill_cost() -> None:
    state, router = make_state(2), make_router("agentrt")
    settle(state, call("p", prompt=4000, call_id="c0"), 0, 5000)  # re-prefill: 5 s
    load(state, 0, 4.9)
    assert router.route(state, call("p", prompt=5200)).replica == 0
    load(state, 0, 0.2)  # excess 5.1 s > 5 s
    route = router.route(state, call("p", prompt=5200))
    assert (route.replica, route.reason) == (1, RouteReason.ESCAPED)


def test_agentrt_counts_only_work_at_the_programs_priority_or_higher() -> None:
    state, router = make_state(2), make_router("agentrt")
    settle(state, call("p", prompt=1000, service=0.5, call_id="c0"), 0, 1000)  # re-prefill: 1 s
    load(state, 0, 50.0, service=8.0)  # level 3: behind p (level 0) under global LAS order
    assert router.route(state, call("p", prompt=1100, service=0.5)).replica == 0
    load(state, 0, 2.0, service=0.2)  # level 0: ahead of p
    assert router.route(state, call("p", prompt=1100, service=0.5)).replica == 1


def test_agentrt_sends_new_programs_to_most_free_kv_then_least_work_ahead() -> None:
    state, router = make_state(3), make_router("agentrt")
    settle(state, call("a", prompt=500, call_id="a0"), 0, 9000)
    settle(state, call("b", prompt=500, call_id="b0"), 1, 2000)
    settle(state, call("c", prompt=500, call_id="c0"), 2, 4000)
    load(state, 1, 3.0)  # a 3,000-token prompt: replicas 1 and 2 now hold 5,000 tokens each
    load(state, 2, 1.0)
    assert state.replicas[1].free_kv_tokens == state.replicas[2].free_kv_tokens
    route = router.route(state, call("new"))
    assert (route.replica, route.reason) == (2, RouteReason.NEW_PROGRAM)


def test_a_dead_holder_loses_its_programs_and_calls() -> None:
    state, router = make_state(2), make_router("agentrt")
    settle(state, call("p", prompt=4000, call_id="c0"), 0, 5000)
    state.add_call(call("q", prompt=100, call_id="q0"), 0)
    assert state.mark_dead(0) == ["q0"]
    assert state.holder("p") is None and state.replicas[0].resident_tokens == 0
    route = router.route(state, call("p", prompt=5200))
    assert (route.replica, route.reason) == (1, RouteReason.NEW_PROGRAM)
    state.mark_dead(1)
    with pytest.raises(NoLiveReplicaError, match="all 2 replicas are dead"):
        router.route(state, call("p"))


def test_clairvoyant_sends_new_programs_to_the_least_remaining_work() -> None:
    state, router = make_state(3), make_router("clairvoyant")
    settle(state, call("a", prompt=500, out=100, call_id="a0", remaining=5100), 0, 600)  # 50 s left
    settle(state, call("b", prompt=500, out=100, call_id="b0", remaining=1100), 1, 600)  # 10 s left
    settle(state, call("c", prompt=9000, out=100, call_id="c0", remaining=2100), 2, 9100)  # 20 s left
    assert [r.remaining_tokens for r in state.replicas] == [5000, 1000, 2000]
    route = router.route(state, call("new", remaining=800))
    assert (route.replica, route.reason) == (1, RouteReason.NEW_PROGRAM)  # agentrt's rule: most free KV, 0 or 1
    load(state, 1, 10.5)  # routed prefill counts as work ahead too: 10 + 10.5 s > 20 s
    assert router.route(state, call("new", remaining=800)).replica == 2


def test_clairvoyant_keeps_every_program_with_its_kv() -> None:
    state, router = make_state(2), make_router("clairvoyant")
    settle(state, call("p", prompt=2900, out=100, call_id="p0", remaining=600), 0, 3000)
    settle(state, call("q", prompt=100, out=100, call_id="q0", remaining=90_100), 0, 200)  # 900 s left beside p
    load(state, 0, 60.0)
    route = router.route(state, call("p", prompt=3100, remaining=500))
    assert (route.replica, route.reason) == (0, RouteReason.STICKY)
    state.mark_dead(0)
    assert router.route(state, call("p", prompt=3100, remaining=500)).reason is RouteReason.NEW_PROGRAM


def test_clairvoyant_needs_the_remaining_work_of_trace_replay() -> None:
    with pytest.raises(ConfigError, match="bound for trace replay.*use --router agentrt"):
        make_router("clairvoyant").route(make_state(2), call("p"))


def test_state_counts_return_to_zero() -> None:
    state = make_state(2)
    settle(state, call("p", prompt=100, out=50, call_id="c0", remaining=120), 0, 150)
    assert state.replicas[0].remaining_tokens == 70
    state.add_call(call("p", prompt=200, out=50, call_id="c1", remaining=70), 1)  # moved: cached nothing on 1
    assert state.replicas[1].prefill_by_level[0] == 200 and state.replicas[0].resident_tokens == 0
    assert (state.replicas[0].remaining_tokens, state.replicas[1].remaining_tokens) == (0, 70)
    state.finish_call("c1", 250)
    assert state.replicas[1].resident_tokens == 250 and state.replicas[1].remaining_tokens == 20
    state.end_program("p")
    for r in state.replicas:
        assert (r.num_calls, r.resident_tokens, r.remaining_tokens, sum(r.prefill_by_level),
                sum(r.decode_by_level)) == (0, 0, 0, 0, 0)


def test_levels_and_validation() -> None:
    assert [CONFIG.level(s) for s in (0.0, 0.99, 1.0, 2.0, 3.9, 4.0, 1e9, float("nan"))] == [0, 0, 1, 2, 2, 3, 3, 0]
    with pytest.raises(ConfigError, match="prefill_tokens_per_s"):
        RouterConfig(prefill_tokens_per_s=0)
    with pytest.raises(ConfigError, match="at least one replica"):
        RoutingState([])
    with pytest.raises(UnknownNameError, match="valid routers: round-robin, least-loaded, autellix, agentrt, clairvoyant"):
        make_router("random")
