"""`Batcher`: the mechanics of one engine iteration (vLLM v1's scheduler, minus every decision).

NOTE on what is decided where. The `ProgramScheduler` decides: the order of the waiting calls,
the preemption victims, which pins to release under pressure, and each pin's TTL; the shared
`EngineDriver` (engine_adapters/driver.py) applies those decisions to the blocks (pin lifecycle,
pin-or-free at finish, context map), as it does in the vLLM plugin. The batcher only does what vLLM v1's `Scheduler.schedule()`
does mechanically: running sequences first (each gets `min(remaining, budget)` tokens: a decode
token or a prefill chunk), then waiting ones in the policy's order until the token budget, the
batch size or memory runs out (admission stops at the first call that does not fit, as vLLM).
When blocks run short it frees memory in this order: evictable cached blocks (by allocating),
pins (`pins_to_release`), then preemption (by recompute, or by swapping when configured). A
running call short of blocks preempts victims until it fits (itself, if it is the victim), as
vLLM; a waiting call preempts only if the victims the policy allows free enough blocks.

Invariants:
- A call's service is the summed duration of the iterations that scheduled it (`on_iteration`).
- `num_computed` counts KV tokens; a step that brings it to `num_tokens` samples one token.
- A pin owns a finished call's block references; unpinning frees them into the prefix cache.
  It ends when a call of its program is admitted (after that call took its own references).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentrt.engine_adapters.base import SchedHints
from agentrt.engine_adapters.driver import EngineDriver
from agentrt.engine_adapters.sim.cost_model import CostModel, chunk_pairs
from agentrt.engine_adapters.sim.host_tier import HostKVTier
from agentrt.engine_adapters.sim.kv_cache import KVCache
from agentrt.engine_adapters.sim.sequence import SeqStatus, SimSequence
from agentrt.engine_adapters.sim.stats import Counters
from agentrt.runtime.scheduling.policies.base import CallState


@dataclass(slots=True)
class Batch:
    """What one iteration computes: tokens per sequence, plus KV copied to/from host memory."""

    start: float
    tokens: dict[SimSequence, int] = field(default_factory=dict)
    num_scheduled_tokens: int = 0
    num_swap_tokens: int = 0
    num_preemptions: int = 0
    num_prefill_tokens: int = 0  # set by `shape()`
    num_decode_tokens: int = 0

    def shape(self) -> tuple[int, int, int, int, int]:
        """The cost model's inputs: prefill tokens, decode tokens, context tokens read (each
        sequence's KV length after the step), attention pairs and prefilling sequences."""
        num_prefill = num_decode = num_context = num_pairs = decode_computed = 0
        for seq, n in self.tokens.items():
            computed = seq.num_computed
            if n == 1 and seq.num_generated and seq.num_prompt_tokens + seq.num_generated - computed == 1:
                num_decode += 1
                decode_computed += computed  # a decode reads (and pairs with) computed + 1 tokens
            else:
                num_prefill += n
                num_context += computed + n
                num_pairs += chunk_pairs(computed, n)
        self.num_prefill_tokens, self.num_decode_tokens = num_prefill, num_decode
        decode_context = decode_computed + num_decode
        num_prefill_seqs = len(self.tokens) - num_decode
        return num_prefill, num_decode, num_context + decode_context, num_pairs + decode_context, num_prefill_seqs

    def add(self, seq: SimSequence, num_tokens: int) -> None:
        self.tokens[seq] = num_tokens
        self.num_scheduled_tokens += num_tokens

    def drop(self, seq: SimSequence) -> None:
        self.num_scheduled_tokens -= self.tokens.pop(seq, 0)


class Batcher:
    """Running and waiting sequences, the KV cache, and the scheduling pass over them."""

    def __init__(self, kv: KVCache, driver: EngineDriver, cost: CostModel, counters: Counters, *,
                 max_num_batched_tokens: int, max_num_seqs: int, swap_space_tokens: int,
                 host: HostKVTier | None = None) -> None:
        self.kv, self.driver, self.cost, self.counters = kv, driver, cost, counters
        self.scheduler = driver.scheduler
        self.max_num_batched_tokens, self.max_num_seqs = max_num_batched_tokens, max_num_seqs
        self.swap_space_tokens = swap_space_tokens  # 0: preemption recomputes
        self.num_swapped_tokens = 0
        self.host = host  # None: no host KV tier (issue 15; host_tier.py)
        self.running: list[SimSequence] = []
        self.seqs: dict[str, SimSequence] = {}  # live calls by id, waiting or running

    # -- arrivals and departures ----------------------------------------------------------------
    def add(self, seq: SimSequence, hints: SchedHints, now: float) -> None:
        seq.call = self.driver.on_arrival(seq.request.call_id, seq.program_id, hints, now, prompt=seq,
                                          num_prompt_tokens=seq.num_prompt_tokens)
        seq.waiting_since = now
        if self.host is not None:  # what its program left in host memory
            bs = self.kv.block_size
            seq.num_host_tokens = self.host.num_hit_blocks(seq.program_id, seq.hashes, (seq.num_tokens - 1) // bs) * bs
        self.seqs[seq.request.call_id] = seq
        self.counters.num_calls += 1
        self.counters.num_prompt_tokens += seq.num_prompt_tokens

    def abort(self, call_id: str, now: float) -> SimSequence | None:
        seq = self.seqs.pop(call_id, None)
        if seq is None:
            return None
        if seq.status is SeqStatus.RUNNING:
            self.running.remove(seq)
            self.kv.free(seq.block_ids)
            seq.block_ids = []
        self.num_swapped_tokens -= seq.num_swapped
        seq.num_swapped = 0
        self.driver.on_aborted(call_id, now)
        seq.status = SeqStatus.ABORTED
        self.counters.num_aborted += 1
        return seq

    def release_program(self, program_id: str) -> None:
        self.driver.release_program(program_id)
        self.kv.forget_context(program_id)
        if self.host is not None:
            self.host.drop(program_id)

    # -- one iteration ----------------------------------------------------------------------------
    def schedule(self, now: float) -> Batch:
        """Form the next batch: running sequences first, then waiting ones in the policy's order."""
        self.driver.expire_pins(now)
        batch = Batch(now)
        tokens, max_tokens, bs = batch.tokens, self.max_num_batched_tokens, self.kv.block_size
        running = SeqStatus.RUNNING
        scheduled = 0  # batch.num_scheduled_tokens, kept in a local (once per running call and iteration)
        for seq in list(self.running):
            budget = max_tokens - scheduled
            if budget <= 0:
                break
            if seq.status is not running:  # preempted earlier in this pass
                continue
            computed = seq.num_computed
            remaining = seq.num_prompt_tokens + seq.num_generated - computed
            n = remaining if remaining < budget else budget
            if -(-(computed + n) // bs) > len(seq.block_ids):
                batch.num_scheduled_tokens = scheduled  # a preemption drops its tokens from the batch
                grown = self._grow(seq, n, batch)
                scheduled = batch.num_scheduled_tokens
                if not grown:
                    continue
            tokens[seq] = n
            scheduled += n
        batch.num_scheduled_tokens = scheduled
        if not batch.num_preemptions and self.scheduler.num_waiting:
            self.admit_waiting(batch, self.scheduler.order_waiting(now))
        return batch

    def admit_waiting(self, batch: Batch, ordered: list[CallState]) -> None:
        """Admit waiting calls in the policy's order (`order_waiting`) until one does not fit."""
        for call in ordered:
            if len(self.running) >= self.max_num_seqs or batch.num_scheduled_tokens >= self.max_num_batched_tokens:
                break
            if not self._admit(self.seqs[call.call_id], batch):
                break

    def admits_nothing(self, num_scheduled: int, ordered: list[CallState]) -> bool:
        """True when `admit_waiting` on a batch of `num_scheduled` tokens would admit nothing and
        change nothing: the first call does not fit, no pin can be released and the policy allows
        no victim."""
        if not ordered or len(self.running) >= self.max_num_seqs or num_scheduled >= self.max_num_batched_tokens:
            return True
        seq = self.seqs[ordered[0].call_id]
        short = self._fit(seq, num_scheduled)[-1]
        return short > 0 and not len(self.scheduler.pins) and not self._victims_for(seq, short)

    def account(self, batch: Batch, duration: float) -> None:
        self.scheduler.on_iteration([s.call for s in batch.tokens], duration)

    def complete(self, batch: Batch, end: float, duration: float) -> list[SimSequence]:
        """Apply the iteration's progress at its end; returns the sequences that finished."""
        bs, kv, counters, running = self.kv.block_size, self.kv, self.counters, SeqStatus.RUNNING
        finished = []
        num_decode = 0
        for seq, n in batch.tokens.items():
            if seq.status is not running:
                continue  # aborted while the iteration ran
            old = seq.num_computed
            total = seq.num_prompt_tokens + seq.num_generated
            if n == 1 and seq.num_generated and total - old == 1:
                num_decode += 1
            else:
                seq.num_prefill_tokens += n
                counters.num_prefill_tokens += n
            new = seq.num_computed = old + n
            if old < seq.max_computed:
                again = min(new, seq.max_computed) - old
                seq.num_recomputed_tokens += again
                counters.num_recomputed_tokens += again
            if new > seq.max_computed:
                seq.max_computed = new
            if new // bs > seq.num_registered_blocks:
                seq.registered_own &= kv.register(seq.block_ids, seq.hashes, seq.num_registered_blocks, new // bs)
                seq.num_registered_blocks = new // bs
            seq.service_time += duration
            if new == total:
                seq.num_generated += 1
                if seq.num_generated == seq.num_output_tokens:
                    finished.append(seq)
        counters.num_decode_tokens += num_decode
        for seq in finished:
            self._finish(seq, end)
        return finished

    # -- helpers ----------------------------------------------------------------------------------
    def _grow(self, seq: SimSequence, num_tokens: int, batch: Batch) -> bool:
        """Give a running sequence the blocks for `num_tokens` more tokens, freeing memory as
        needed. False if it was itself preempted."""
        need = self.kv.blocks_for(seq.num_computed + num_tokens) - len(seq.block_ids)
        if need <= 0:
            return True
        while need > self.kv.num_free:
            if self._release_pins(need - self.kv.num_free):
                continue
            victim = self._victim()
            assert victim is not None, "a running sequence is short of blocks but nothing runs"
            self._preempt(victim, batch)
            if victim is seq:
                return False
        seq.block_ids += self.kv.allocate(need)
        return True

    def _admit(self, seq: SimSequence, batch: Batch) -> bool:
        """Admit a waiting sequence if it fits (after releasing pins or preempting a lower-priority
        call, when the policy allows). False if it does not fit: admission stops."""
        bs, kv = self.kv.block_size, self.kv
        while True:
            hit, computed, n, need, short = self._fit(seq, batch.num_scheduled_tokens)
            if short <= 0:
                break
            if self._release_pins(short):
                continue
            victims = self._victims_for(seq, short)
            if not victims:
                return False
            for victim in victims:
                self._preempt(victim, batch)
        kv.unwatch()
        if seq.program_id in self.scheduler.pins:  # the pin ends at this admission (`EngineDriver.on_admitted`)
            kv.touch_pinned(seq.program_id, hit)
        else:
            kv.touch(hit)
        seq.block_ids = hit + kv.allocate(need)
        seq.num_registered_blocks = len(hit)
        self._on_admitted(seq, len(hit) * bs, computed, batch)
        batch.add(seq, n)
        return True

    def _fit(self, seq: SimSequence, num_scheduled: int) -> tuple[list[int], int, int, int, int]:
        """What admitting `seq` next takes: its hit blocks, its computed tokens, the tokens to
        schedule, the blocks to allocate, and how many blocks are short (<= 0: it fits)."""
        bs, kv = self.kv.block_size, self.kv
        hit = kv.lookup_watched(seq, seq.hashes, (seq.num_tokens - 1) // bs, *kv.context_guess(seq.program_id))
        computed = max(len(hit) * bs, seq.num_swapped, self._host_tokens(seq))
        n = min(seq.num_tokens - computed, self.max_num_batched_tokens - num_scheduled)
        need = kv.blocks_for(computed + n) - len(hit)
        if need + len(hit) <= kv.num_free:  # fits even if every hit block is free
            return hit, computed, n, need, 0
        return hit, computed, n, need, need + kv.watched_evictable() - kv.num_free

    def _on_admitted(self, seq: SimSequence, num_hit: int, num_computed: int, batch: Batch) -> None:
        now, counters = batch.start, self.counters
        if num_computed > num_hit:  # copy back what the prefix cache does not hold any more
            swap_in = num_computed - num_hit  # from swap space or the host tier
            batch.num_swap_tokens += swap_in
            counters.num_swapped_tokens += swap_in
            full = num_computed // self.kv.block_size
            seq.registered_own &= self.kv.register(seq.block_ids, seq.hashes, seq.num_registered_blocks, full)
            seq.num_registered_blocks = full
        if seq.num_swapped:
            self.num_swapped_tokens -= seq.num_swapped
            seq.num_swapped = 0
        seq.num_computed = num_computed
        if seq.first_scheduled is None:
            seq.first_scheduled = now
            seq.num_cached_tokens = num_hit
            counters.num_prefix_hit_tokens += num_hit
            bs = self.kv.block_size  # what could have hit: the full blocks the previous call computed
            could_hit = min(self.driver.context_tokens.get(seq.program_id, 0), seq.num_prompt_tokens - 1) // bs * bs
            counters.num_reprefilled_tokens += max(could_hit - num_computed, 0)
        seq.queue_wait += now - seq.waiting_since
        seq.status = SeqStatus.RUNNING
        self.running.append(seq)
        self.driver.on_admitted(seq.call, now)

    def _victims_for(self, seq: SimSequence, num_blocks: int) -> list[SimSequence]:
        """Running sequences to preempt so that the waiting `seq` gets `num_blocks` more blocks
        (the driver's choice; empty: none allowed, or not enough)."""
        seqs, kv = self.seqs, self.kv
        calls = self.driver.victims_for(seq.call, [s.call for s in self.running], num_blocks,
                                        lambda call: kv.num_exclusive(seqs[call.call_id].block_ids))
        return [seqs[call.call_id] for call in calls]

    def _victim(self) -> SimSequence | None:
        call = self.scheduler.pick_victim([s.call for s in self.running])
        return None if call is None else self.seqs[call.call_id]

    def _preempt(self, seq: SimSequence, batch: Batch) -> None:
        batch.drop(seq)
        self.running.remove(seq)
        if self.num_swapped_tokens + seq.num_computed <= self.swap_space_tokens and seq.num_computed:
            seq.num_swapped = seq.num_computed
            self.num_swapped_tokens += seq.num_computed
            batch.num_swap_tokens += seq.num_computed
            self.counters.num_swap_outs += 1
        self._store_on_host(seq)
        self.kv.free(seq.block_ids)
        seq.block_ids, seq.num_computed, seq.num_registered_blocks = [], 0, 0
        seq.status, seq.waiting_since = SeqStatus.WAITING, batch.start
        seq.preemptions += 1
        batch.num_preemptions += 1
        self.driver.on_preempted(seq.call, batch.start, num_tokens=seq.num_tokens)

    def _release_pins(self, num_blocks: int) -> bool:
        return self.driver.release_pins(num_blocks) > 0

    def _finish(self, seq: SimSequence, end: float) -> None:
        self.running.remove(seq)
        del self.seqs[seq.request.call_id]
        seq.status, seq.finish = SeqStatus.FINISHED, end
        self._store_on_host(seq)
        # Only the full computed blocks can be pinned, as the plugin's (those vLLM has hashed): the
        # partial last block is freed, so it neither counts in the pin decision's share nor stays held.
        full = seq.block_ids[:seq.num_computed // self.kv.block_size]
        ttl = self.driver.on_finished(seq.call, end, full, num_computed_tokens=seq.num_computed)
        self.kv.free(seq.block_ids[len(full):])
        self.kv.remember_context(seq.program_id, full,
                                 seq.hashes[:seq.num_registered_blocks] if seq.registered_own else None)
        seq.block_ids, seq.pin_ttl = [], ttl
        self.counters.num_finished += 1

    # -- the host KV tier (issue 15) ------------------------------------------------------------
    def _store_on_host(self, seq: SimSequence) -> None:
        """Write-through: the sequence's computed full blocks are in host memory too."""
        if self.host is not None:
            num_blocks = seq.num_computed // self.kv.block_size
            self.host.store(seq.program_id, seq.hashes[:num_blocks])
            seq.num_host_tokens = num_blocks * self.kv.block_size

    def _host_tokens(self, seq: SimSequence) -> int:
        """Tokens of the sequence's prefix that the host tier can load (0 without one)."""
        host = self.host
        return seq.num_host_tokens if host is not None and host.holds(seq.program_id) else 0
