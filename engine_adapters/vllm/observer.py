"""`StockScheduler`: vLLM's own `Scheduler`, observed. It decides nothing; it records per step
and per call what agentrt's plugin records, with the plugin's own recording code.

Why: the baseline of the benchmarks is vLLM without agentrt's decisions. Run bare (no
`scheduler_cls`), the adapter sees only each call's final output: prompt tokens computed at the
first admission (recomputation after a preemption is invisible), no preemptions, no steps. Run
through this subclass, stock vLLM reports the same `CallRecord`s (tokens computed including
recomputation, preemptions, queue wait, service) and `StepRecord`s (the engine's step timing) as
the plugin, so stock and plugin runs are counted alike.

`_ObservedMixin` is that recording, and the plugin (`_AgentMixin`, plugin.py) is built on it: the
plugin adds its decisions at the hooks (`_on_arrival`, `_before_schedule`, `_on_admitted`,
`_on_preempted`, `_on_step`, `_on_freed`), which here do nothing. The mixin only reads vLLM's
state and wraps its methods (every call reaches vLLM's own with its arguments unchanged and
returns its result), so `StockScheduler.schedule()` returns what `Scheduler.schedule()` returns
(tests/engine_adapters/test_vllm_observer.py checks it step by step). What it adds to a run:
a record on each call's final output (`kv_transfer_params`, read only by the adapter) and the
per-step bookkeeping's CPU time, inside the step's measured time (as the plugin's).

Alternatives considered: vLLM's own statistics (`log_stats`: per-request events and iteration
stats, but not the plugin's records, so stock would still be counted differently), and counting
in the adapter (what was done: a lower bound).
"""

from __future__ import annotations

import time
from typing import Any

from vllm.v1.core.sched.async_scheduler import AsyncScheduler
from vllm.v1.core.sched.scheduler import Scheduler
from vllm.v1.request import Request

from agentrt.engine_adapters.base import SchedHints
from agentrt.engine_adapters.vllm.records import META_KEY, CallRecord, parse_meta
from agentrt.engine_adapters.vllm.steps import StepAccounting, StepClock

_INSTANCE: _ObservedMixin | None = None  # the scheduler of this engine-core process (for control.py)


def current_scheduler() -> _ObservedMixin | None:
    return _INSTANCE


class _ObservedMixin:
    """Recording around vLLM's Scheduler (or AsyncScheduler): combined below, and in plugin.py."""

    # provided by vLLM's Scheduler
    vllm_config: Any
    kv_cache_manager: Any
    requests: dict[str, Request]
    running: list[Request]
    waiting: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings: dict[str, Any] = (getattr(self.vllm_config, "additional_config", None) or {}).get(META_KEY, {})
        self.pool = self.kv_cache_manager.block_pool
        self.num_usable_blocks = self.pool.num_gpu_blocks - 1  # block 0 is vLLM's null block
        self.accounting = StepAccounting(int(self.settings.get("record_steps", 0)))
        self.step_clock = StepClock()
        self.num_preemptions = 0
        self._waiting_since: dict[str, float] = {}  # request id -> since when it waits (arrival or preemption)
        global _INSTANCE
        _INSTANCE = self

    # -- vLLM's methods, wrapped ---------------------------------------------------------------
    def add_request(self, request: Request) -> None:
        call_id, program_id, hints = parse_meta(request.sampling_params.extra_args if request.sampling_params
                                                else None, request.request_id)
        now = time.monotonic()
        self.accounting.records[request.request_id] = CallRecord(call_id, now)
        self._waiting_since[request.request_id] = now
        self._on_arrival(request, call_id, program_id, hints, now)
        super().add_request(request)  # type: ignore[misc]

    def schedule(self, *args: Any, **kwargs: Any) -> Any:
        clocks = self.step_clock.now()
        self._before_schedule(clocks[0])
        out = super().schedule(*args, **kwargs)  # type: ignore[misc]
        self._note_scheduled(out, clocks[0])
        self.accounting.begin(out, self.requests)
        self.step_clock.begin(out, clocks)
        return out

    def update_from_output(self, scheduler_output: Any, model_runner_output: Any) -> Any:
        times = self.step_clock.end(scheduler_output)
        if scheduler_output.total_num_scheduled_tokens:
            scheduled, num_prefill, num_pairs = self.accounting.account(scheduler_output, self.requests, times)
            self._on_step(scheduled, num_prefill, num_pairs, times.seconds)
        return super().update_from_output(scheduler_output, model_runner_output)  # type: ignore[misc]

    def _free_request(self, request: Request, delay_free_blocks: bool = False) -> Any:
        """A request ended: return its record with the output, as `kv_transfer_params`."""
        now = time.monotonic()
        record = self.accounting.records.pop(request.request_id, None)
        self._waiting_since.pop(request.request_id, None)
        self._on_freed(request, record, now)  # before vLLM drops the request's block references
        kv_params, ec_params = super()._free_request(request, delay_free_blocks)  # type: ignore[misc]
        if record is not None:
            kv_params = {**(kv_params or {}), **record.as_output()}
        return kv_params, ec_params

    def statistics(self) -> dict[str, Any]:
        """`VLLMStats` fields this scheduler knows, as plain values."""
        import torch  # the engine core's, where this runs

        return {"num_gpu_blocks": self.num_usable_blocks, "num_free_blocks": self.pool.get_num_free_blocks(),
                "num_preemptions": self.num_preemptions, "num_steps": self.accounting.num_steps,
                "busy_time": self.accounting.busy_time, "num_waiting": len(self.waiting),
                "num_running": len(self.running), "scheduler_cls": type(self).__name__,
                "num_threads": torch.get_num_threads()}

    # -- recording -------------------------------------------------------------------------------
    def _note_scheduled(self, out: Any, now: float) -> None:
        """After vLLM's `schedule()`: its preemptions (agentrt's own included: they go through
        vLLM's `_preempt_request`), then the requests it admitted (first time or again)."""
        for request_id in out.preempted_req_ids or ():
            record = self.accounting.records.get(request_id)
            if record is not None:
                record.num_preemptions += 1
                self.num_preemptions += 1
                self._waiting_since[request_id] = now
            self._on_preempted(request_id, now)
        for request in self.running:
            since = self._waiting_since.pop(request.request_id, None)
            if since is None:
                continue
            record = self.accounting.records[request.request_id]
            record.queue_wait += now - since
            if record.first_scheduled < 0:
                record.first_scheduled = now
            self._on_admitted(request, now)

    # -- hooks: agentrt's decisions (plugin.py); nothing for stock vLLM ------------------------
    def _on_arrival(self, request: Request, call_id: str, program_id: str, hints: SchedHints, now: float) -> None:
        """A request arrives, before vLLM queues it."""

    def _before_schedule(self, now: float) -> None:
        """A step begins, before vLLM's `schedule()`."""

    def _on_preempted(self, request_id: str, now: float) -> None:
        """vLLM's `schedule()` preempted the request (after it returned)."""

    def _on_admitted(self, request: Request, now: float) -> None:
        """vLLM's `schedule()` admitted the waiting request (after it returned)."""

    def _on_step(self, scheduled: list[str], num_prefill: int, num_pairs: int, seconds: float) -> None:
        """A step that computed for `scheduled` ended (its `num_prefill` tokens, their attention pairs)."""

    def _on_freed(self, request: Request, record: CallRecord | None, now: float) -> None:
        """The request ended (finished or aborted), before vLLM frees it; `record` goes out with it."""


class StockScheduler(_ObservedMixin, Scheduler):
    """vLLM's Scheduler, observed (synchronous scheduling; the CPU engine forces it)."""


class StockAsyncScheduler(_ObservedMixin, AsyncScheduler):
    """vLLM's AsyncScheduler, observed (vLLM's async scheduling, the GPU default)."""
