"""Prometheus metrics of a server (`GET /metrics`), in a registry of its own (one per app).

Engine-side gauges (pinned and used KV blocks, pin hits, prefix-hit rate, calls the engine has
waiting, programs held back by residency gating) are read from `Engine.statistics()` when scraped; the engine's statistics name them as
the simulator's `SimStats` does, and a gauge whose field an engine lacks is left out.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_TIME_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 3600, float("inf"))
_ENGINE_GAUGES = {  # statistics field -> (metric name, help)
    "num_pinned_blocks": ("agentrt_kv_pinned_blocks", "KV blocks held by program pins"),
    "num_used_blocks": ("agentrt_kv_used_blocks", "KV blocks referenced by calls or pins"),
    "num_blocks": ("agentrt_kv_blocks", "KV blocks in the cache"),
    "num_pin_hits": ("agentrt_pin_hits", "calls that found their program's KV still pinned (total)"),
    "num_pins": ("agentrt_pins", "pins created (total)"),
    "num_preemptions": ("agentrt_preemptions", "calls preempted (total)"),
    "num_gated_programs": ("agentrt_programs_gated", "programs whose calls residency gating holds back (now)"),
}


class ServeMetrics:
    """The server's metrics; `render(engine_stats)` gives the Prometheus text."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("agentrt_requests", "HTTP requests by endpoint and status", ["endpoint", "status"],
                                registry=r)
        self.programs_active = Gauge("agentrt_programs_active", "programs active (not ended)", registry=r)
        self.programs_ended = Counter("agentrt_programs_ended", "programs ended, by reason", ["reason"], registry=r)
        self.requests_in_flight = Gauge("agentrt_requests_in_flight", "admitted requests not yet answered",
                                        registry=r)
        self.queue_length = Gauge("agentrt_engine_waiting_calls", "calls waiting in the engine's queue", registry=r)
        self.prefix_hit_rate = Gauge("agentrt_prefix_hit_rate", "prompt tokens found in the prefix cache / "
                                     "prompt tokens (since start)", registry=r)
        self.program_jct = Histogram("agentrt_program_jct_seconds", "program completion time (server clock)",
                                     buckets=_TIME_BUCKETS, registry=r)
        self.tool_gap = Histogram("agentrt_tool_gap_seconds", "time from a response to its program's next "
                                  "request (server clock)", buckets=_TIME_BUCKETS, registry=r)
        self._engine = {field: Gauge(name, help, registry=r) for field, (name, help) in _ENGINE_GAUGES.items()}
        self.replica_calls = Gauge("agentrt_replica_calls", "LLM calls routed to each engine replica (total)",
                                   ["replica"], registry=r)
        self.replica_alive = Gauge("agentrt_replica_alive", "1 while an engine replica serves, 0 once it died",
                                   ["replica"], registry=r)

    def render(self, engine_stats: Any, num_active: int, num_waiting: int | None) -> bytes:
        self.programs_active.set(num_active)
        if num_waiting is not None:
            self.queue_length.set(num_waiting)
        for field, gauge in self._engine.items():
            value = getattr(engine_stats, field, None)
            if isinstance(value, (int, float)):
                gauge.set(value)
        self._render_replicas(engine_stats)
        prompt = getattr(engine_stats, "num_prompt_tokens", 0)
        if prompt:
            self.prefix_hit_rate.set(getattr(engine_stats, "num_prefix_hit_tokens", 0) / prompt)
        return generate_latest(self.registry)

    def _render_replicas(self, engine_stats: Any) -> None:
        """Per-replica gauges, for replicas behind a router (`ReplicaStats`)."""
        calls = getattr(engine_stats, "calls_per_replica", None)
        if not isinstance(calls, tuple):
            return
        dead = set(getattr(engine_stats, "dead", ()))
        for index, num_calls in enumerate(calls):
            self.replica_calls.labels(str(index)).set(num_calls)
            self.replica_alive.labels(str(index)).set(0 if index in dead else 1)
