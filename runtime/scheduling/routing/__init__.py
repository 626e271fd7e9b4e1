"""Routing LLM calls across engine replicas: pure decisions on a `RoutingState`."""

from __future__ import annotations

from agentrt.runtime.scheduling.routing.routers import (
    ROUTER_CLASSES,
    AgentRTRouter,
    AutellixRouter,
    ClairvoyantRouter,
    LeastLoadedRouter,
    RoundRobinRouter,
    Route,
    RouteReason,
    Router,
    RouterName,
    make_router,
)
from agentrt.runtime.scheduling.routing.state import CallInfo, ProgramPlace, ReplicaLoad, RouterConfig, RoutingState

__all__ = ["ROUTER_CLASSES", "AgentRTRouter", "AutellixRouter", "CallInfo", "ClairvoyantRouter", "LeastLoadedRouter",
           "ProgramPlace", "ReplicaLoad", "RoundRobinRouter", "Route", "RouteReason", "Router", "RouterConfig",
           "RouterName", "RoutingState", "make_router"]
