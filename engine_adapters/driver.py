"""`EngineDriver`: the engine-side scheduling that every engine shares, over a `KVBlocks`.

The `ProgramScheduler` decides (order, victims, pin TTLs, the working set); the engines keep the
mechanics (blocks, batches, token budgets). Between them sat the same glue written twice, once in
the simulator's batcher and once in the vLLM plugin: the per-program context map, the pin
lifecycle, pin-or-free at a call's finish, the memory demand the pin decision weighs, the choice
of preemption victims and the idle wake-up. It lives here once; each engine calls the driver at
the same points of its loop and supplies a `KVBlocks` (blocks, pins, the prefix lookup) and a
prefill-time estimate.

Pin lifecycle (one rule, on every engine): a finished call's blocks are pinned when the policy
gives a TTL (else freed); the pin ends at the first of: a call of the program is admitted (it has
taken its own references: `on_admitted`), the TTL passes (`expire_pins`), the policy releases it
under memory pressure (`release_pins`), the tool hint re-decides it to 0 (`update_pin`), the
program ends (`release_program`). Until then the blocks stay in the pin table, under its
pinned-share bound and releasable under pressure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from agentrt.engine_adapters.kv import KVBlocks, PrefillTime
from agentrt.runtime.scheduling import CallPhase, CallState, ProgramScheduler, SchedHints, SchedulerStats


class EngineDriver:
    """One engine's scheduler and KV cache, with the decisions wired to the blocks."""

    def __init__(self, scheduler: ProgramScheduler, kv: KVBlocks, prefill_time: PrefillTime) -> None:
        self.scheduler, self.kv, self.prefill_time = scheduler, kv, prefill_time
        self.context_tokens: dict[str, int] = {}  # program -> KV tokens its last finished call left in full blocks
        self.num_wanted_blocks = 0  # `_demand` summed over the waiting calls, kept as they come and go

    # -- calls --------------------------------------------------------------------------------
    def on_arrival(self, call_id: str, program_id: str, hints: SchedHints, now: float, *,
                   prompt: Any, num_prompt_tokens: int) -> CallState:
        """Register an arriving call; `prompt`: the engine's request, for its prefix lookup."""
        num_cached_tokens = self.kv.prefix_hit_tokens(prompt)
        call = self.scheduler.add_call(
            call_id, program_id, hints, now, num_prompt_tokens=num_prompt_tokens,
            num_new_tokens=num_prompt_tokens - num_cached_tokens,
            prefill_time=self.prefill_time(num_prompt_tokens, num_cached_tokens))
        self.num_wanted_blocks += self._demand(call)
        return call

    def on_admitted(self, call: CallState, now: float) -> None:
        """The engine admitted `call` and holds its blocks: its program's pin ends."""
        if call.phase is CallPhase.WAITING:
            self.num_wanted_blocks -= self._demand(call)
        if self.scheduler.on_scheduled(call, now):
            self.kv.unpin(call.program_id)

    def on_preempted(self, call: CallState, now: float, *, num_tokens: int, for_memory: bool = True) -> None:
        """The engine preempted the running `call`, which has `num_tokens` tokens to compute again."""
        if call.phase is not CallPhase.RUNNING:
            return
        call.num_new_tokens = num_tokens
        self.num_wanted_blocks += self._demand(call)
        self.scheduler.on_preempted(call, now, for_memory=for_memory)

    def on_finished(self, call: CallState, now: float, blocks: list[Any], *, num_computed_tokens: int) -> float:
        """Pin or free the finished call's `blocks` (its full blocks, of its `num_computed_tokens`
        tokens of KV) by the policy's TTL; returns the TTL (0: not pinned).

        What the pin saves is the re-prefill of the tokens its blocks hold, not of the partial last
        block's (freed by the engine, so computed again with or without the pin): that is the
        benefit the TTL weighs, and the estimate the idle release and `update_pin` use."""
        held = min(num_computed_tokens, len(blocks) * self.kv.block_size)
        self.context_tokens[call.program_id] = held
        if call.phase is CallPhase.WAITING:  # finished before the driver saw it admitted
            self.num_wanted_blocks -= self._demand(call)
        ttl = self.scheduler.on_call_finished(
            call, now, num_blocks=len(blocks), total_blocks=self.kv.num_blocks, free_blocks=self.kv.num_free,
            wanted_blocks=self.wanted_blocks(), reprefill_time=self.prefill_time(held))
        if ttl > 0:
            self.kv.pin(call.program_id, blocks)
        else:
            self.kv.free(blocks)
            if call.program_id not in self.scheduler.pins:
                self.kv.unpin(call.program_id)
        return ttl

    def on_aborted(self, call_id: str, now: float) -> CallState | None:
        call = self.scheduler.calls.get(call_id)
        if call is not None and call.phase is CallPhase.WAITING:
            self.num_wanted_blocks -= self._demand(call)
        return self.scheduler.remove_call(call_id, now)

    # -- pins ---------------------------------------------------------------------------------
    def expire_pins(self, now: float) -> None:
        for program_id in self.scheduler.expire_pins(now):
            self.kv.unpin(program_id)

    def release_pins(self, num_blocks: int) -> int:
        """Release pins in the policy's order until `num_blocks` blocks are unpinned (memory
        pressure); returns the blocks unpinned."""
        if not len(self.scheduler.pins):
            return 0
        return sum(self.kv.unpin(program_id) for program_id in self.scheduler.pins_to_release(num_blocks))

    def update_pin(self, program_id: str, gap_samples: tuple[float, ...], now: float) -> None:
        """The program's running tool is known: re-decide its pin's TTL."""
        ttl = self.scheduler.update_pin(
            program_id, gap_samples, now, total_blocks=self.kv.num_blocks, free_blocks=self.kv.num_free,
            wanted_blocks=self.wanted_blocks(),
            reprefill_time=self.prefill_time(self.context_tokens.get(program_id, 0)))
        if ttl == 0:
            self.kv.unpin(program_id)

    def release_program(self, program_id: str) -> None:
        self.scheduler.release_program(program_id)
        self.kv.unpin(program_id)
        self.context_tokens.pop(program_id, None)

    # -- memory -------------------------------------------------------------------------------
    def wanted_blocks(self) -> int:
        """Blocks the waiting calls still need: the memory demand the pin decision weighs. O(1): a
        sum over the waiting calls at every finish and tool hint made 10,000 programs quadratic."""
        return self.num_wanted_blocks

    def _demand(self, call: CallState) -> int:
        """Blocks a waiting call needs: its new tokens (all of them after a preemption)."""
        return self.kv.blocks_for(call.num_new_tokens)

    def victims_for(self, call: CallState, running: Sequence[CallState], num_blocks: int,
                    blocks_freed: Callable[[CallState], int]) -> list[CallState]:
        """The running calls to preempt so that the waiting `call` gets `num_blocks` blocks, as
        the policy allows (empty: none, or not enough)."""
        return self.scheduler.victims_for(call, running, num_blocks, blocks_freed)

    def next_wakeup(self) -> float:
        return self.scheduler.next_wakeup()

    def statistics(self) -> SchedulerStats:
        return self.scheduler.statistics()
