"""`ProgramScheduler`: the policy host that every engine embeds.

The simulator and the vLLM scheduler plugin each own one and call it at the same points of their
scheduling loop; all program-level logic (ordering, anti-starvation, preemption choice, service
accounting, pin TTLs and pin release under pressure) lives behind it, so the same code decides on
every engine. Engines keep the mechanics: KV blocks, batching, token budgets.

Engine protocol (the scheduler tracks each call's phase from these calls):
  per call:      add_call (arrival: WAITING) -> on_scheduled (admitted: RUNNING; True: its
                 program's pin ended, the engine unpins the blocks)
                 [-> on_preempted (WAITING again) -> on_scheduled ...]
                 -> on_call_finished (returns the pin TTL) | remove_call (aborted)
  per iteration: expire_pins(now) -> order_waiting(now) -> admit in that order; when memory is
                 short: pins_to_release(n), then victims_for(call, running, n, ...) for a
                 waiting call, pick_victim(running) for a running one that cannot grow
                 -> on_iteration(scheduled, duration)
  per program:   release_program at its end; update_pin when the running tool becomes known.
  when idle:     sleep until next_wakeup() or an arrival.

Invariants (see policies/base.py for what service and waiting mean):
- The waiting queue is kept sorted by each call's cached key. Keys change only at arrival,
  promotion (waiting calls, driven by a heap of promotion times) and demotion (running calls,
  re-inserted sorted at preemption), so a decision costs a list copy, not a sort: O(n) memcpy
  plus O(log n) per change. Alternative considered: re-sort every iteration (simple, but ~3 ms
  for 10,000 waiting calls in CPython, over the 1 ms budget).
- A pin ends at the first of: a call of its program is admitted (on_scheduled: the call has
  taken its own references on the blocks), the program ends (release_program), the TTL expires
  (expire_pins), the policy releases it under memory pressure (pins_to_release). Alternative
  considered: end it when the next call arrives (the simulator did): on vLLM the arrival can
  precede the admission by many steps under contention, and the blocks then either lose their
  protection or leave the pin table (its pinned-share bound and release under pressure).
"""

from __future__ import annotations

import heapq
import itertools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from agentrt.runtime.scheduling.decisions import DecisionKind, DecisionLog
from agentrt.runtime.scheduling.hints import SchedHints
from agentrt.runtime.scheduling.pinning import PinQuery, PinState, PinTable, SortKey
from agentrt.runtime.scheduling.policies import PolicyConfig, make_policy
from agentrt.runtime.scheduling.policies.base import CallPhase, CallState, Policy, ProgramState

_KEY = attrgetter("key")
_BULK_REKEY = 64  # above this many key changes at once, re-sort instead of moving each


@dataclass(slots=True, frozen=True)
class SchedulerStats:
    num_programs: int
    num_waiting: int
    num_running: int
    num_pins: int
    pinned_blocks: int
    num_promotions: int
    num_demotions: int
    num_preemptions: int
    num_pins_created: int
    num_pin_hits: int  # calls admitted while their program's KV was still pinned (the pin ends then)
    num_pins_expired: int
    num_pins_released: int  # under memory pressure
    num_pins_refused: int  # positive TTL, but over the policy's pinned-share bound
    num_gated_programs: int = 0  # now: programs whose calls residency gating holds back


class _WaitQueue:
    """Waiting calls sorted by their unique key (parallel lists: bisect on keys, memmove on change)."""

    def __init__(self) -> None:
        self._keys: list[SortKey] = []
        self._calls: list[CallState] = []

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, call: CallState) -> None:
        i = bisect_right(self._keys, call.key)
        self._keys.insert(i, call.key)
        self._calls.insert(i, call)

    def remove(self, call: CallState) -> None:
        i = bisect_left(self._keys, call.key)
        assert self._calls[i] is call, "waiting call's key changed while queued"
        del self._keys[i]
        del self._calls[i]

    def rekey(self, calls: list[CallState], update: Callable[[CallState], None]) -> None:
        """Apply `update` (which changes `call.key`) to queued calls, keeping the order. Few:
        move each (O(log n) search + memmove). Many (a promotion burst): filter them out, sort
        them, append them as a second sorted run and let timsort merge the two runs in O(n)."""
        if len(calls) <= _BULK_REKEY:
            for call in calls:
                self.remove(call)
                update(call)
                self.add(call)
            return
        moved = {id(c) for c in calls}
        kept = [c for c in self._calls if id(c) not in moved]
        for call in calls:
            update(call)
        kept.extend(sorted(calls, key=_KEY))
        kept.sort(key=_KEY)
        self._calls = kept
        self._keys = [c.key for c in kept]

    def ordered(self) -> list[CallState]:
        return self._calls.copy()

    def first(self) -> CallState:
        return self._calls[0]


class ProgramScheduler:
    """Per-program and per-call scheduling state plus the policy that decides on it."""

    def __init__(self, policy: Policy | PolicyConfig | str = "agentrt", *, kv_capacity_tokens: int | None = None,
                 host_kv_capacity_tokens: int = 0, decisions: DecisionLog | None = None) -> None:
        """`policy`: a policy, its config, or a name. Raises UnknownNameError for an unknown name.
        `kv_capacity_tokens`: the engine's KV cache size, for policies that gate residency.
        `host_kv_capacity_tokens`: the engine's host-memory KV tier (0: none), for gating.
        `decisions`: a log that records every decision in order (decisions.py); None: no log.
        Raises ValueError for a negative host tier."""
        if host_kv_capacity_tokens < 0:
            raise ValueError(f"host_kv_capacity_tokens must be >= 0, got {host_kv_capacity_tokens}")
        self.policy = policy if isinstance(policy, Policy) else make_policy(policy)
        self.decisions = decisions
        self.kv_capacity_tokens = kv_capacity_tokens
        self.host_kv_capacity_tokens = host_kv_capacity_tokens
        self._resident_tokens = 0
        self._demand_exceeds_free = False  # at the last pin decision: waiting calls wanted more blocks than were free
        self.programs: dict[str, ProgramState] = {}
        self.calls: dict[str, CallState] = {}
        self.pins = PinTable()
        self._waiting = _WaitQueue()
        self._pending = _WaitQueue()  # calls of programs outside the working set (residency gating)
        self._promotions: list[tuple[float, int, str]] = []  # (time, seq, call_id), lazily invalidated
        self._live: dict[str, set[str]] = {}  # program_id -> ids of its calls not yet finished
        self._ended: set[str] = set()  # programs released while calls were still live
        self._seq = itertools.count()
        self._counts = dict.fromkeys(("promotions", "demotions", "preemptions", "pins_created", "pin_hits",
                                      "pins_expired", "pins_released", "pins_refused"), 0)

    # -- calls --------------------------------------------------------------------------------
    def add_call(self, call_id: str, program_id: str, hints: SchedHints, now: float, *,
                 num_prompt_tokens: int = 0, num_new_tokens: int = 0, prefill_time: float = 0.0) -> CallState:
        """Register an arriving call as WAITING (`call.had_pin`: its program's KV is pinned; the pin
        lasts until the call is admitted). Raises ValueError if `call_id` is already registered."""
        if call_id in self.calls:
            raise ValueError(f"call {call_id!r} is already registered; call remove_call first")
        program = self._program(program_id, hints, now)
        if program.resident:
            self._resident_tokens += max(num_prompt_tokens - program.context_tokens, 0)
        program.context_tokens = max(program.context_tokens, num_prompt_tokens)
        had_pin = program_id in self.pins
        call = CallState(call_id=call_id, program_id=program_id, arrival=now,
                         program_arrival=program.arrival, program_service=program.service,
                         priority=_finite(hints.priority), num_prompt_tokens=num_prompt_tokens,
                         num_new_tokens=num_new_tokens, prefill_time=_finite(prefill_time),
                         gap_samples=hints.gap_samples, had_pin=had_pin, memory_short=self.memory_short(),
                         seq=next(self._seq),
                         remaining_work=_finite_or_inf(hints.remaining_work),
                         waiting_since=now, ratio_from=now)
        self.policy.on_arrival(call, program)
        self.calls[call_id] = call
        self._live.setdefault(program_id, set()).add(call_id)
        if self.decisions is not None:
            self.decisions.add(DecisionKind.ARRIVED, program_id, call_id)
        self._enqueue(call)
        return call

    def on_scheduled(self, call: CallState, now: float) -> bool:
        """The engine admitted `call` (first time or after a preemption): it leaves the queue and
        its program's pin ends. True if a pin ended (the engine unpins its blocks)."""
        if call.phase is not CallPhase.WAITING:
            return False
        self._queue_of(call).remove(call)
        call.total_wait += now - call.waiting_since
        call.ratio_wait += now - call.ratio_from
        call.phase = CallPhase.RUNNING
        call.promote_at = math.inf
        if self.decisions is not None:
            self.decisions.add(DecisionKind.ADMITTED, call.program_id, call.call_id)
        if self.pins.pop(call.program_id) is None:
            return False
        self._counts["pin_hits"] += 1
        if self.decisions is not None:
            self.decisions.add(DecisionKind.PIN_ENDED, call.program_id)
        return True

    def on_preempted(self, call: CallState, now: float, *, for_memory: bool = True) -> None:
        """The engine preempted the running `call`: it waits again, at its current level. A
        preemption `for_memory` (not just for a batch slot) also shrinks agentrt's working set."""
        if call.phase is not CallPhase.RUNNING:
            return
        call.num_preemptions += 1
        self._counts["preemptions"] += 1
        call.waiting_since = call.ratio_from = now
        if self.decisions is not None:
            self.decisions.add(DecisionKind.PREEMPTED, call.program_id, call.call_id)
        program = self.programs.get(call.program_id)
        if for_memory and program is not None and program.resident and self._gating():
            # memory ran short: the working set shrinks (the victim's program leaves it and waits
            # for room), as an OS swaps out a process instead of letting all of them thrash
            program.resident = False
            self._resident_tokens -= program.context_tokens
            if self.decisions is not None:
                self.decisions.add(DecisionKind.LEFT_PREEMPTED, call.program_id)
            for sibling_id in self._live.get(call.program_id, ()):
                sibling = self.calls[sibling_id]
                if sibling is not call and sibling.phase is CallPhase.WAITING and not sibling.pending:
                    self._waiting.remove(sibling)
                    sibling.pending = True
                    self._pending.add(sibling)
                    if self.decisions is not None:
                        self.decisions.add(DecisionKind.HELD, sibling.program_id, sibling.call_id)
        self._enqueue(call)

    def remove_call(self, call_id: str, now: float | None = None) -> CallState | None:
        """Forget an aborted call; its service and waiting count for its program. Returns it, or
        None if unknown."""
        call = self.calls.get(call_id)
        if call is not None and self.decisions is not None:
            self.decisions.add(DecisionKind.ABORTED, call.program_id, call_id)
        return self._remove_call(call_id, now)

    def _remove_call(self, call_id: str, now: float | None) -> CallState | None:
        call = self.calls.pop(call_id, None)
        if call is None:
            return None
        if call.phase is CallPhase.WAITING:
            self._queue_of(call).remove(call)
            if now is not None:
                call.total_wait += now - call.waiting_since
        call.phase = CallPhase.DONE
        live = self._live[call.program_id]
        live.discard(call_id)
        if not live and now is not None and call.program_id in self.programs:
            self.programs[call.program_id].idle_since = now
        program = self.programs.get(call.program_id)
        if program is not None and (call.service or call.total_wait):
            program.service += call.service
            program.wait += call.total_wait
            for sibling_id in live:  # their promotion times moved
                self._push_promotion(self.calls[sibling_id])
        if not live and call.program_id in self._ended:
            self._forget(call.program_id)
        return call

    # -- decisions ----------------------------------------------------------------------------
    def order_waiting(self, now: float) -> list[CallState]:
        """Promote the starved calls, then return the waiting calls in the order to admit them."""
        if self._promotions and self._promotions[0][0] <= now:
            self._promote_due(now)
        if self._pending:
            self._admit_pending(now)
        return self._waiting.ordered()

    def _admit_pending(self, now: float) -> None:
        """Residency gating: in queue order, programs join the working set while their contexts
        fit `residency_fraction` of the KV cache (always, when no program is resident); their
        calls move to the admissible queue. A program leaves the working set when it ends.
        Backfill (issue 15): a program that does not fit is skipped and smaller ones behind it
        are admitted, until the first skipped one has waited `residency_backfill_s`; then
        admission stops at it, so a large context is not starved by a stream of small ones."""
        budget = (self.policy.config.residency_fraction or 1.0) * self._kv_tokens_within_reach()
        backfill_s = self.policy.config.residency_backfill_s
        tried_idle = False  # once per pass: a program made resident here has calls, so is not idle
        skipped: set[str] = set()
        for call in self.policy.gate_order(self._pending.ordered(), self.programs):
            program = self.programs[call.program_id]
            if program.resident or program.program_id in skipped:
                continue
            if self._resident_tokens and self._resident_tokens + program.context_tokens > budget:
                if not tried_idle:
                    tried_idle = True
                    self._evict_idle(now, self._smallest_gated(), budget)
                if self._resident_tokens + program.context_tokens > budget:
                    if not skipped and call.wait_at(now) >= backfill_s:
                        return  # the head has waited long enough: hold the door for it
                    skipped.add(program.program_id)
                    continue
            self._make_resident(program)

    def _make_resident(self, program: ProgramState) -> None:
        program.resident = True
        self._resident_tokens += program.context_tokens
        if self.decisions is not None:
            self.decisions.add(DecisionKind.JOINED, program.program_id)
        for call_id in self._live[program.program_id]:
            call = self.calls[call_id]
            if call.pending:
                self._pending.remove(call)
                call.pending = False
                self._waiting.add(call)

    def _evict_idle(self, now: float, need: int | None, budget: float) -> bool:
        """Resident programs idle (no call in flight) for `residency_idle_s` leave the working set;
        those idle for their shorter idle limit (`_idle_limit`) leave it only if, with them gone,
        the smallest waiting program (`need` tokens of context) then fits `budget`, and then only as many
        as that takes, earliest due first (a release that admits nobody only sends the released
        program to the back of the gate). True if any left."""
        # called at every scheduling pass while a program waits for room: the cheapest test first;
        # `due <= now`, the sum `_next_idle_release` wakes the engine at (not
        # `now - idle_since >= limit`, which rounding can make false at that very time)
        fixed = self.policy.config.residency_idle_s
        plan = [(due, p) for due, p in self._idle_release_plan() if due <= now]
        if not plan or need is None:
            return False
        gone = [p for _, p in plan if p.idle_since + fixed <= now]
        left = self._resident_tokens - sum(p.context_tokens for p in gone)
        conditional = []
        for _, program in plan:
            if left + need <= budget:
                break
            if program.idle_since + fixed > now:
                conditional.append(program)
                left -= program.context_tokens
        if left + need <= budget:
            gone += conditional
        elif self._resident_tokens > self._kv_tokens_within_reach():
            # the working set overflows the cache itself (it thrashes): every due one leaves
            gone += [p for _, p in plan if p not in gone]
        for program in gone:
            program.resident = False
            self._resident_tokens -= program.context_tokens
            if self.decisions is not None:
                self.decisions.add(DecisionKind.LEFT_IDLE, program.program_id)
        return bool(gone)

    def _idle_release_plan(self) -> list[tuple[float, ProgramState]]:
        """Resident programs with no call in flight and a finite idle limit, with the time each is
        due to leave (`idle_since + _idle_limit`), earliest first."""
        live = self._live
        plan = [(p.idle_since + self._idle_limit(p), p) for p in self.programs.values()
                if p.resident and not live.get(p.program_id)]
        plan = [(due, p) for due, p in plan if due < math.inf]
        plan.sort(key=lambda item: (item[0], item[1].program_id))
        return plan

    def _idle_limit(self, program: ProgramState) -> float:
        """How long a resident program may sit idle while others wait for room (inf: pinned, its
        pin's own cost/benefit keeps it): `residency_idle_s`, or `residency_idle_reprefill` times
        the time to prefill its context again if that is sooner (ski rental: hold the context
        while waiting costs less than rebuilding it, then let the gate admit another)."""
        if program.program_id in self.pins.pins:
            return math.inf
        config = self.policy.config
        if config.residency_idle_reprefill is None:
            return config.residency_idle_s
        return min(config.residency_idle_s, config.residency_idle_reprefill * program.reprefill_s)

    def next_wakeup(self) -> float:
        """When a decision changes next with nothing arriving (inf: never): a pin expires, a
        starved call is promoted, or a resident idle program may leave the working set for a
        gated one. An idle engine sleeps until then (or an arrival), then schedules again."""
        return min(self.pins.next_expiry(), self._next_promotion(), self._next_idle_release())

    def _next_promotion(self) -> float:
        heap = self._promotions
        while heap and not self._promotion_is_live(*heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else math.inf

    def _promotion_is_live(self, t: float, seq: int, call_id: str) -> bool:
        call = self.calls.get(call_id)
        return call is not None and call.seq == seq and call.phase is CallPhase.WAITING and call.promote_at == t

    def _next_idle_release(self) -> float:
        """When the first resident idle program may leave the working set, if a program waits
        outside it (`_evict_idle`'s rule): the first `residency_idle_s` expiry, or the first due
        time at which the programs due by then free room enough for the head waiting program."""
        if not self._pending:
            return math.inf
        plan = self._idle_release_plan()
        if not plan:
            return math.inf
        fixed = self.policy.config.residency_idle_s
        first_fixed = min(p.idle_since + fixed for _, p in plan)
        need = self._smallest_gated()
        if need is None:
            return first_fixed
        if self._resident_tokens > self._kv_tokens_within_reach():
            return plan[0][0]  # thrashing: the first due one leaves (`_evict_idle`)
        budget = (self.policy.config.residency_fraction or 1.0) * self._kv_tokens_within_reach()
        left = self._resident_tokens
        for due, program in plan:
            if due >= first_fixed or left + need <= budget:
                # the latter: it fits already (the door is held for a larger head), so `_evict_idle`
                # releases nobody early; waking at a due time already past spun an idle engine
                break
            left -= program.context_tokens
            if left + need <= budget:
                return due
        return first_fixed

    def _smallest_gated(self) -> int | None:
        """The smallest context of a program waiting outside the working set (None: none waits)."""
        return min((self.programs[c.program_id].context_tokens for c in self._pending.ordered()
                    if not self.programs[c.program_id].resident), default=None)

    def pick_victim(self, running: Sequence[CallState]) -> CallState | None:
        """The running call to preempt when memory runs out: the one that sorts last."""
        return max(running, key=_KEY) if running else None

    def victims_for(self, candidate: CallState, running: Sequence[CallState], num_blocks: int,
                    blocks_freed: Callable[[CallState], int]) -> list[CallState]:
        """Running calls to preempt, in victim order, so that the waiting `candidate` gets
        `num_blocks` blocks (`blocks_freed(victim)`: what preempting it frees); empty when the
        policy forbids a victim before enough are found (nothing is preempted in vain)."""
        candidates, victims, freed = list(running), [], 0
        while freed < num_blocks:
            victim = self.pick_victim(candidates)
            if victim is None or not self.can_preempt(candidate, victim):
                return []
            candidates.remove(victim)
            victims.append(victim)
            freed += blocks_freed(victim)
        return victims

    def can_preempt(self, candidate: CallState, victim: CallState) -> bool:
        """May the waiting `candidate` preempt the running `victim` (priority policies only)?
        Beside a host tier that widens the gate (`_kv_tokens_within_reach`), only while memory is
        short (`memory_short`): the wider working set otherwise preempted for order 66-135 times
        per run where fcfs + tier preempted 3-12 times, and lost to it (docs/scheduling.md, "Tier-aware gating")."""
        if self._kv_tokens_within_reach() > (self.kv_capacity_tokens or 0) and not self._demand_exceeds_free:
            return False
        return self.policy.can_preempt_for(candidate, victim)

    def on_iteration(self, scheduled: Sequence[CallState], duration: float) -> None:
        """Account one engine iteration of `duration` seconds to the calls it scheduled; demote
        those that exhausted their quantum. Waiting is accounted lazily (wall time)."""
        self.on_iterations(scheduled, (duration,))

    def on_iterations(self, scheduled: Sequence[CallState], durations: Sequence[float]) -> None:
        """`on_iteration` for consecutive iterations that scheduled the same calls (a decode span
        in which nothing reads their service or keys until it ends)."""
        for call in self.policy.account_iterations(scheduled, durations):
            call.key = self._key(call)
            self._counts["demotions"] += 1

    def sort_key(self, call: CallState) -> SortKey:
        return call.key

    # -- pins ---------------------------------------------------------------------------------
    def on_call_finished(self, call: CallState, now: float, *, num_blocks: int, total_blocks: int,
                         free_blocks: int, wanted_blocks: int, reprefill_time: float,
                         queue_delay: float = 0.0) -> float:
        """Finish `call` and decide the pin TTL for its program's KV (`num_blocks` blocks).

        Returns the TTL in seconds (0: no pin). The engine holds the blocks; the scheduler tracks
        when the pin ends."""
        self._demand_exceeds_free = wanted_blocks > free_blocks
        if self.decisions is not None and call.call_id in self.calls:
            self.decisions.add(DecisionKind.FINISHED, call.program_id, call.call_id)
        self._remove_call(call.call_id, now)
        program = self.programs.get(call.program_id)
        if program is not None:
            program.reprefill_s = _finite(reprefill_time)
        if not self.policy.pins_kv or program is None or num_blocks <= 0 or total_blocks <= 0:
            return 0.0
        query = PinQuery(call.program_id, num_blocks, benefit=reprefill_time + queue_delay,
                         kv_share=num_blocks / total_blocks,
                         demand=wanted_blocks / max(free_blocks, 1), gap_samples=call.gap_samples)
        ttl = self.policy.pin_ttl(query)
        if ttl <= 0:
            return 0.0
        own = self.pins.get(call.program_id)
        others = self.pins.num_blocks - (own.num_blocks if own else 0)
        if others + num_blocks > self.policy.max_pinned_share() * total_blocks:
            self._counts["pins_refused"] += 1
            if self.decisions is not None:
                self.decisions.add(DecisionKind.PIN_REFUSED, call.program_id)
            return 0.0
        self.pins.add(PinState(call.program_id, num_blocks, now, now + ttl, program.arrival,
                               program.service, call.priority))
        self._counts["pins_created"] += 1
        if self.decisions is not None:
            self.decisions.add(DecisionKind.PIN_GRANTED, call.program_id, ttl=ttl)
        return ttl

    def update_pin(self, program_id: str, gap_samples: tuple[float, ...], now: float, *,
                   total_blocks: int, free_blocks: int, wanted_blocks: int, reprefill_time: float,
                   queue_delay: float = 0.0) -> float | None:
        """The tool now running is known: re-decide an existing pin's TTL, counted from the pin's
        start. Returns the new TTL (0: released, also when it has already run out), or None when
        the program holds no pin."""
        self._demand_exceeds_free = wanted_blocks > free_blocks
        pin = self.pins.get(program_id)
        if pin is None:
            return None
        query = PinQuery(program_id, pin.num_blocks, benefit=reprefill_time + queue_delay,
                         kv_share=pin.num_blocks / max(total_blocks, 1),
                         demand=wanted_blocks / max(free_blocks, 1), gap_samples=gap_samples)
        ttl = self.policy.pin_ttl(query)
        if ttl <= 0 or pin.start + ttl <= now:
            self.pins.pop(program_id)
            if self.decisions is not None:
                self.decisions.add(DecisionKind.PIN_DROPPED, program_id)
            return 0.0
        self.pins.set_expiry(program_id, pin.start + ttl)
        return ttl

    def expire_pins(self, now: float) -> list[str]:
        """Drop expired pins; returns their program ids (the engine unpins their blocks)."""
        gone = self.pins.expire(now)
        self._counts["pins_expired"] += len(gone)
        if self.decisions is not None:
            for program_id in gone:
                self.decisions.add(DecisionKind.PIN_EXPIRED, program_id)
        return gone

    def pins_to_release(self, blocks_needed: int) -> list[str]:
        """Release pins in the policy's order until `blocks_needed` blocks are freed; returns
        their program ids (the engine unpins their blocks)."""
        out: list[str] = []
        freed = 0
        for pin in self.pins.release_order(self.policy.pin_release_key):
            if freed >= blocks_needed:
                break
            out.append(pin.program_id)
            freed += pin.num_blocks
        for pid in out:
            self.pins.pop(pid)
            if self.decisions is not None:
                self.decisions.add(DecisionKind.PIN_RELEASED, pid)
        self._counts["pins_released"] += len(out)
        return out

    def release_program(self, program_id: str) -> bool:
        """The program ended: drop its pin and forget it (once its last call is removed).
        True if it held a pin."""
        had_pin = self.pins.pop(program_id) is not None
        if self.decisions is not None:
            if had_pin:
                self.decisions.add(DecisionKind.PIN_DROPPED, program_id)
            self.decisions.add(DecisionKind.ENDED, program_id)
        if self._live.get(program_id):
            self._ended.add(program_id)
        else:
            self._forget(program_id)
        return had_pin

    # -- introspection ------------------------------------------------------------------------
    @property
    def num_waiting(self) -> int:
        return len(self._waiting) + len(self._pending)
    def statistics(self) -> SchedulerStats:
        c = self._counts
        return SchedulerStats(
            num_programs=len(self.programs), num_waiting=self.num_waiting,
            num_running=sum(1 for x in self.calls.values() if x.phase is CallPhase.RUNNING),
            num_pins=len(self.pins), pinned_blocks=self.pins.num_blocks,
            num_promotions=c["promotions"], num_demotions=c["demotions"], num_preemptions=c["preemptions"],
            num_pins_created=c["pins_created"], num_pin_hits=c["pin_hits"], num_pins_expired=c["pins_expired"],
            num_pins_released=c["pins_released"], num_pins_refused=c["pins_refused"],
            num_gated_programs=len({call.program_id for call in self._pending.ordered()}))

    # -- helpers ------------------------------------------------------------------------------
    def _program(self, program_id: str, hints: SchedHints, now: float) -> ProgramState:
        program = self.programs.get(program_id)
        if program is None:
            arrival = hints.program_arrival if hints.program_arrival <= now else now
            program = self.programs[program_id] = ProgramState(program_id, arrival, kind=hints.program_kind)
        self._ended.discard(program_id)
        program.service = max(program.service, _finite(hints.program_service))
        program.num_calls += 1
        return program

    def _forget(self, program_id: str) -> None:
        program = self.programs.pop(program_id, None)
        if program is not None:
            self.policy.on_program_end(program)
        if program is not None and program.resident:
            self._resident_tokens -= program.context_tokens
        self._live.pop(program_id, None)
        self._ended.discard(program_id)

    def memory_short(self) -> bool:
        """KV memory is short: at the last pin decision (a call's finish or a tool hint) the
        waiting calls wanted more blocks than were free. agentrt's pinned-first tie-break applies
        only to calls that arrive while it holds (`CallState.memory_short`)."""
        return self._demand_exceeds_free

    def _kv_tokens_within_reach(self) -> int:
        """What residency gating budgets: the GPU KV cache, or a host KV tier if it is larger.

        Gating keeps contexts from being evicted during tool calls and prefilled again at every
        turn (seconds each); beside a host tier an evicted context comes back over PCIe instead
        (milliseconds), so the gate only has to keep the working set within what the tier holds,
        and holding programs back for GPU room made them wait for nothing (docs/scheduling.md, "Tier-aware
        gating"). The tier is write-through, so it also holds the GPU's contexts: what is within
        reach is the larger of the two, not their sum. Memory shortness (the pressure order,
        preemption for order) stays the GPU's: which call gets the GPU still decides JCT."""
        return max(self.kv_capacity_tokens or 0, self.host_kv_capacity_tokens)

    def _key(self, call: CallState) -> SortKey:
        program = self.programs[call.program_id]
        return (*self.policy.sort_key(call, program, call.had_pin), call.seq)

    def _gating(self) -> bool:
        return (self.policy.gates_residency and bool(self.kv_capacity_tokens)
                and self.policy.config.residency_fraction is not None)

    def _queue_of(self, call: CallState) -> _WaitQueue:
        return self._pending if call.pending else self._waiting

    def _enqueue(self, call: CallState) -> None:
        call.phase = CallPhase.WAITING
        call.key = self._key(call)
        call.pending = self._gating() and not self.programs[call.program_id].resident
        if call.pending and self.decisions is not None:
            self.decisions.add(DecisionKind.HELD, call.program_id, call.call_id)
        self._queue_of(call).add(call)
        self._push_promotion(call)

    def _push_promotion(self, call: CallState) -> None:
        if call.phase is not CallPhase.WAITING:
            return
        t = self.policy.promotion_time(call, self.programs[call.program_id])
        if t != call.promote_at:
            call.promote_at = t
            if t < math.inf:
                heapq.heappush(self._promotions, (t, call.seq, call.call_id))

    def _promote_due(self, now: float) -> None:
        heap = self._promotions
        due: list[CallState] = []
        while heap and heap[0][0] <= now:
            t, seq, call_id = heapq.heappop(heap)
            if not self._promotion_is_live(t, seq, call_id):
                continue  # stale entry
            call = self.calls[call_id]
            call.promote_at = math.inf
            if self.policy.promotion_time(call, self.programs[call.program_id]) > now:
                self._push_promotion(call)  # its program's counters moved the time later
            else:
                due.append(call)
        for queue in (self._waiting, self._pending):
            mine = [c for c in due if self._queue_of(c) is queue]
            if mine:
                queue.rekey(mine, lambda call: self._promote(call, now))
        for call in due:
            self._push_promotion(call)

    def _promote(self, call: CallState, now: float) -> None:
        self.policy.promote(call, now)
        call.key = self._key(call)
        self._counts["promotions"] += 1


def _finite_or_inf(x: float | None) -> float:
    """An absent or non-finite clairvoyant hint sorts last."""
    return x if x is not None and math.isfinite(x) else math.inf


def _finite(x: float) -> float:
    """Hints from outside: a NaN or infinite value counts as 0 rather than corrupting the order."""
    return x if math.isfinite(x) else 0.0
