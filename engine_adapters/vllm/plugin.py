"""`AgentScheduler`: vLLM v1's `Scheduler` with agentrt's `ProgramScheduler` deciding.

Installed through vLLM's own settings only (`scheduler_cls`, `scheduling_policy="priority"`,
`additional_config={"agentrt": ...}`); it runs inside the engine-core process. It calls the
shared `EngineDriver` (engine_adapters/driver.py) at the same points as the simulator's Batcher:
the driver owns the pin lifecycle, pin-or-free at finish, the context map and the choice of
preemption victims; vLLM keeps the mechanics (blocks, token budget, chunked prefill, its own
preemption when running requests cannot grow). This class is the glue and the block arithmetic;
the rest is in named pieces: the recording it shares with stock vLLM's observed scheduler (step
timing and per-call records at the hooks of observer.py, steps.py), the ranking written into
vLLM's queues (ranking.py), the requests residency gating holds (held.py), the prefill rate
(steps.py), and the control messages (control.py).

NOTE on how the decisions reach vLLM. Before each `schedule()` the plugin asks the
ProgramScheduler for the waiting order (`order_waiting`: anti-starvation promotions included)
and writes each request's rank into `Request.priority` (ranking.py). vLLM then admits in that
order and, when a running request cannot grow, preempts `max(running, key=priority)`: exactly
`ProgramScheduler.pick_victim`. Two decisions vLLM does not make are added here, before
`super().schedule()`: releasing pins under memory pressure (`EngineDriver.release_pins`) and
preempting running calls for a better waiting one (`EngineDriver.victims_for`, the same choice
as the simulator's). One step admits from one `order_waiting`, as one simulator pass: the
victims of its preemptions wait again, ranked last until the next step.

Invariants:
- A call's service is the summed duration of the steps that scheduled it (steps.py: a step lasts
  from its `schedule()` to the `update_from_output()` that receives its result).
- A pin ends as on every engine (driver.py): at the first of its program's next call admitted,
  the program's end (control message), its TTL (checked at every `schedule()` and control
  message: an idle engine runs no `schedule()`), or a release under memory pressure.
"""

from __future__ import annotations

from typing import Any

from vllm.v1.core.sched.async_scheduler import AsyncScheduler
from vllm.v1.core.sched.request_queue import SchedulingPolicy
from vllm.v1.core.sched.scheduler import Scheduler
from vllm.v1.request import Request, RequestStatus

from agentrt.engine_adapters.base import SchedHints
from agentrt.engine_adapters.driver import EngineDriver
from agentrt.engine_adapters.vllm.held import HeldRequests
from agentrt.engine_adapters.vllm.observer import _ObservedMixin
from agentrt.engine_adapters.vllm.pins import PinnedBlocks
from agentrt.engine_adapters.vllm.ranking import UNRANKED, rank
from agentrt.engine_adapters.vllm.records import CallRecord
from agentrt.engine_adapters.vllm.steps import PrefillRate
from agentrt.runtime.scheduling.decisions import DecisionLog
from agentrt.runtime.scheduling.policies import PolicyConfig
from agentrt.runtime.scheduling.policies.base import CallPhase, CallState
from agentrt.runtime.scheduling.scheduler import ProgramScheduler

_FINISHED_OK = (RequestStatus.FINISHED_STOPPED, RequestStatus.FINISHED_LENGTH_CAPPED)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


class _AgentMixin(_ObservedMixin):
    """The agentrt glue at the recording's hooks; combined below with vLLM's Scheduler and AsyncScheduler."""

    # provided by vLLM's Scheduler
    block_size: int
    policy: SchedulingPolicy
    kv_holding_waiting: Any
    max_num_running_reqs: int
    max_num_scheduled_tokens: int
    prev_step_scheduled_req_ids: set[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.policy != SchedulingPolicy.PRIORITY:
            raise ValueError("agentrt's scheduler needs scheduling_policy='priority' (it writes its ranking "
                             f"into Request.priority); got {self.policy.value!r}")
        settings = self.settings
        self.prefill_rate = PrefillRate()
        self.pinned = PinnedBlocks(self.pool, self.block_size, self.num_usable_blocks)
        self.program_scheduler = ProgramScheduler(PolicyConfig.model_validate(settings.get("policy", {})),
                                                  kv_capacity_tokens=self.num_usable_blocks * self.block_size,
                                                  decisions=DecisionLog() if settings.get("record_decisions") else None)
        self.call_names: dict[str, str] = {}  # request id -> agentrt call id, kept while decisions are logged
        self.driver = EngineDriver(self.program_scheduler, self.pinned, self.prefill_rate.seconds)
        self.held = HeldRequests()
        self._own_preemptions: set[str] = set()

    # -- arrivals -------------------------------------------------------------------------------
    def _on_arrival(self, request: Request, call_id: str, program_id: str, hints: SchedHints, now: float) -> None:
        self.driver.on_arrival(request.request_id, program_id, hints, now, prompt=request,
                               num_prompt_tokens=request.num_prompt_tokens)
        if self.program_scheduler.decisions is not None:
            self.call_names[request.request_id] = call_id  # vLLM's request id has a random suffix
        request.priority = UNRANKED

    def add_request(self, request: Request) -> None:
        super().add_request(request)
        call = self.program_scheduler.calls.get(request.request_id)
        if call is not None and call.pending:
            self.held.hold(self.waiting, request)

    # -- one step -------------------------------------------------------------------------------
    def _before_schedule(self, now: float) -> None:
        self.driver.expire_pins(now)
        order = self.program_scheduler.order_waiting(now)
        self._relieve_pressure(order, now)
        calls = self.program_scheduler.calls
        self.held.sync(self.waiting, calls, order)
        rank(order, (self.waiting, self.kv_holding_waiting), self.running, calls, self.program_scheduler.sort_key)

    def _on_step(self, scheduled: list[str], num_prefill: int, num_pairs: int, seconds: float) -> None:
        calls = self.program_scheduler.calls
        self.program_scheduler.on_iteration([calls[r] for r in scheduled if r in calls], seconds)
        self.prefill_rate.observe(num_prefill, num_pairs, seconds)

    def get_num_unfinished_requests(self) -> int:
        """Held requests keep the engine stepping (they are admitted as programs end)."""
        return super().get_num_unfinished_requests() + len(self.held)  # type: ignore[misc,no-any-return]

    def _relieve_pressure(self, order: list[CallState], now: float) -> None:
        """Free memory (or a batch slot) for the next admission: pins first, then the preemptions
        the policy allows (the driver's victims)."""
        head = self.requests.get(order[0].call_id) if order else None
        full = head is not None and len(self.running) >= self.max_num_running_reqs
        short = self._blocks_needed(head, full) - self.pool.get_num_free_blocks()
        if short > 0:
            short -= self.driver.release_pins(short)
        if head is None or not self.running or (short <= 0 and not full):
            return
        calls = self.program_scheduler.calls
        running = [calls[r.request_id] for r in self.running if r.request_id in calls]
        if short > 0:
            victims = self.driver.victims_for(order[0], running, short, self._exclusive_blocks)
        else:  # a batch slot
            victims = self.driver.victims_for(order[0], running, 1, lambda call: 1)
        for victim in victims:
            request = self.requests[victim.call_id]
            self.running.remove(request)
            self._preempt_request(request, now)  # type: ignore[attr-defined]
            self.prev_step_scheduled_req_ids.discard(request.request_id)  # resends its tokens, as reset_prefix_cache
            self._own_preemptions.add(request.request_id)
            self._tell_preempted(request.request_id, now, for_memory=short > 0)

    def _exclusive_blocks(self, call: CallState) -> int:
        """Blocks that preempting the running `call` frees (those no other request holds)."""
        groups = self.kv_cache_manager.get_blocks(call.call_id).blocks
        return sum(1 for group in groups for b in group if not b.is_null and b.ref_cnt == 1)

    def _blocks_needed(self, head: Request | None, full: bool) -> int:
        """Blocks the next step wants: the running requests' growth plus the head's admission."""
        bs, budget = self.block_size, self.max_num_scheduled_tokens
        need = sum(_cdiv(min(r.num_tokens, r.num_computed_tokens + budget), bs) - _cdiv(r.num_computed_tokens, bs)
                   for r in self.running)
        if head is not None and not full:
            hit = self.pinned.cached_prefix(head)
            need += _cdiv(min(head.num_tokens, len(hit) * bs + budget), bs) - len(hit)
            need += sum(1 for b in hit if b.ref_cnt == 0)  # evictable now, taken by the admission
        return need

    def _note_scheduled(self, out: Any, now: float) -> None:
        super()._note_scheduled(out, now)
        self._own_preemptions.clear()

    def _on_preempted(self, request_id: str, now: float) -> None:
        if request_id not in self._own_preemptions:  # the driver knows its own victims already
            self._tell_preempted(request_id, now)

    def _on_admitted(self, request: Request, now: float) -> None:
        call = self.program_scheduler.calls.get(request.request_id)
        if call is not None and call.phase is CallPhase.WAITING:
            self.driver.on_admitted(call, now)

    def _tell_preempted(self, request_id: str, now: float, *, for_memory: bool = True) -> None:
        call = self.program_scheduler.calls.get(request_id)
        request = self.requests.get(request_id)
        if call is not None and request is not None and call.phase is CallPhase.RUNNING:
            self.driver.on_preempted(call, now, num_tokens=request.num_tokens, for_memory=for_memory)

    # -- departures -----------------------------------------------------------------------------
    def _on_freed(self, request: Request, record: CallRecord | None, now: float) -> None:
        """Decide the program's pin (before vLLM drops the request's block references); the
        record's queue wait is the ProgramScheduler's."""
        request_id = request.request_id
        self.held.drop(request_id)
        call = self.program_scheduler.calls.get(request_id)
        if call is not None and record is not None:
            if request.status in _FINISHED_OK:
                record.pin_ttl = self._finish(call, request, now)
            else:
                self.driver.on_aborted(request_id, now)
            record.queue_wait = call.total_wait

    def statistics(self) -> dict[str, Any]:
        stats, pinned = self.driver.statistics(), self.pinned
        return {**super().statistics(), "num_pinned_blocks": pinned.num_pinned_blocks,
                "num_pins": len(pinned.program_to_blocks), "num_pins_created": stats.num_pins_created,
                "num_pin_hits": stats.num_pin_hits, "num_pin_expiries": stats.num_pins_expired,
                "num_pins_released": stats.num_pins_released, "num_preemptions": stats.num_preemptions,
                "num_promotions": stats.num_promotions, "num_held": len(self.held),
                "num_waiting": stats.num_waiting, "num_running": stats.num_running}

    def _finish(self, call: CallState, request: Request, now: float) -> float:
        blocks = [b for group in self.kv_cache_manager.get_blocks(request.request_id).blocks for b in group
                  if not b.is_null and b.block_hash is not None]
        return self.driver.on_finished(call, now, blocks, num_computed_tokens=request.num_computed_tokens)

    def shutdown(self) -> None:
        self.pinned.clear()
        super().shutdown()  # type: ignore[misc]


class AgentScheduler(_AgentMixin, Scheduler):
    """For synchronous scheduling (`async_scheduling=False`; the CPU engine forces it)."""


class AgentAsyncScheduler(_AgentMixin, AsyncScheduler):
    """For vLLM's async scheduling (the GPU default): a plain `Scheduler` subclass would miss
    AsyncScheduler's output-placeholder bookkeeping."""
