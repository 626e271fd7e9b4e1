"""What crosses the process boundary between the adapter and the scheduler plugin.

vLLM's `AsyncLLM` runs the engine core (and so the plugin) in another process and renames
request ids on the way, so everything the plugin needs about a call travels in the request
itself, under `SamplingParams.extra_args["agentrt"]` (the call's metadata), and everything the
adapter needs back travels on the call's final output, as `kv_transfer_params["agentrt"]` (the
call's record): the one per-request field vLLM hands from the scheduler's `_free_request` to the
caller's `RequestOutput` unchanged. Only plain JSON-able values cross (msgspec).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from agentrt.engine_adapters.base import SchedHints

META_KEY = "agentrt"


def call_meta(call_id: str, program_id: str, hints: SchedHints) -> dict[str, Any]:
    """The `extra_args` entry for one call."""
    return {META_KEY: {"call_id": call_id, "program_id": program_id, "program_arrival": hints.program_arrival,
                       "program_service": hints.program_service, "priority": hints.priority,
                       "gap_samples": list(hints.gap_samples), "remaining_work": hints.remaining_work,
                       "program_kind": hints.program_kind}}


def parse_meta(extra_args: dict[str, Any] | None, request_id: str) -> tuple[str, str, SchedHints]:
    """(call_id, program_id, hints) of a request; a request without metadata (not sent by the
    adapter) is a one-call program named by its request id. The metadata is a dict, or its JSON
    text (vLLM's OpenAI server takes only flat `vllm_xargs` values: `agentrt serve` sends text)."""
    meta = (extra_args or {}).get(META_KEY)
    if isinstance(meta, str):
        try:
            meta = json.loads(meta)
        except ValueError:
            meta = None
    if not isinstance(meta, dict):
        return request_id, request_id, SchedHints()
    hints = SchedHints(program_arrival=float(meta.get("program_arrival", 0.0)),
                       program_service=float(meta.get("program_service", 0.0)),
                       priority=float(meta.get("priority", 0.0)),
                       gap_samples=tuple(float(x) for x in meta.get("gap_samples", ())),
                       remaining_work=None if meta.get("remaining_work") is None else float(meta["remaining_work"]),
                       program_kind=None if meta.get("program_kind") is None else str(meta["program_kind"]))
    return str(meta.get("call_id", request_id)), str(meta.get("program_id", request_id)), hints


@dataclass(slots=True)
class CallRecord:
    """The plugin's accounting of one call. Times are `time.monotonic()` of the engine process,
    the same clock as asyncio's loop time in the adapter (CLOCK_MONOTONIC is system-wide).

    service_time: summed duration of the steps that scheduled the call (as the simulator).
    queue_wait: time spent waiting (at arrival and after preemptions), from the ProgramScheduler.
    pin_ttl: the TTL the policy gave the program's KV when the call finished (0: not pinned).
    """

    call_id: str
    arrival: float
    first_scheduled: float = -1.0
    queue_wait: float = 0.0
    service_time: float = 0.0
    num_prefill_tokens: int = 0
    num_recomputed_tokens: int = 0
    max_computed: int = 0
    num_preemptions: int = 0
    pin_ttl: float = 0.0

    def as_output(self) -> dict[str, Any]:
        return {META_KEY: asdict(self)}

    @classmethod
    def from_output(cls, kv_transfer_params: dict[str, Any] | None) -> CallRecord | None:
        data = (kv_transfer_params or {}).get(META_KEY)
        return cls(**data) if isinstance(data, dict) else None


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One engine step as `sim.calibrate` takes it: tokens and the step's wall time.

    num_context_tokens: KV tokens the step read, summed over its requests (each request's KV
    length after the step). num_attention_pairs: query-key pairs the step computed.
    cpu_seconds: the engine process's CPU time over the step (`time.process_time()`): unlike the
    wall time, it does not grow while the process waits for a CPU that co-tenants hold.
    thread_cpu_seconds: the scheduling thread's CPU time over the step (`time.thread_time()`): the
    scheduler and, with the worker in the engine-core process (CPU), the model's forward pass;
    `cpu_seconds` minus it is the process's other threads (output serialization, idle OpenMP
    threads spinning). schedule_cpu_seconds: the CPU time of `schedule()` itself (agentrt's
    ranking and vLLM's scheduler) within it. Both 0.0 in steps recorded before they existed."""

    num_prefill_tokens: int
    num_decode_tokens: int
    num_context_tokens: int
    seconds: float
    num_attention_pairs: int = 0
    num_requests: int = 0
    cpu_seconds: float = 0.0
    thread_cpu_seconds: float = 0.0
    schedule_cpu_seconds: float = 0.0
