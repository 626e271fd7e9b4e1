"""Decode spans: a stretch of decode iterations that the engine loop runs as one step.

Once a batch only decodes (one token per running sequence) and nothing can arrive before the
horizon (see `clock.py`), the next iterations schedule the same sequences again, one token each,
until the first of:
- a sequence samples its last token (its caller must be woken);
- a sequence needs a KV block that is not free (pins are released or a call is preempted);
- a pin expires (the next scheduling pass unpins it);
- an iteration ends at or past the horizon (another task may act; the step-by-step loop stops
  there too);
- a waiting call can be admitted, or could make room for itself (a pin to release, a victim the
  policy allows): `Batcher.admits_nothing` stops being true.
Until then every iteration is known in advance: at step j sequence i computes its token c_i + j,
so the batch reads C + n * j context tokens and the cost model gives its duration. `run` walks
those iterations and applies them. Per token there is no Python work; per iteration, when calls
wait, one `ProgramScheduler.on_iteration` with that iteration's duration (the policy sees every
iteration: a demotion by quantum happens at the same iteration as step by step), the scheduling
pass's `order_waiting` and a check of the first call (without waiting calls nothing reads the
service or the keys during the span, and `on_iterations` accounts its iterations at the end);
per block boundary, one `allocate` or `register`, in the step-by-step order (iteration, then
scheduling before completion, then running order), so the KV cache goes through the same states. Finish times,
service times and counters are bitwise those of the step-by-step engine
(`SimConfig(fast_forward=False)`); the one visible difference is that a span is one
`IterationRecord` with `num_iterations` > 1.

A span that stops because a waiting call can be admitted at step j hands back step j's batch with
the running sequences already scheduled; the engine admits from there (`admit_waiting`) and runs
it normally, so the admission happens in the same scheduling pass as step by step.

Alternatives considered: one sleep for the whole span that wakes early when something arrives
(needed on a real clock, where nothing bounds the next arrival; there the engine paces itself like
the GPU, one sleep per iteration, and does not fast-forward), and accounting the span's summed
duration in one `on_iteration` (cheaper, but a call that exhausts a quantum mid-span would be
demoted late, by one level only, and lose the rest of its level service).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import add

from agentrt.engine_adapters.sim.batcher import Batch, Batcher
from agentrt.engine_adapters.sim.sequence import SimSequence
from agentrt.engine_adapters.sim.stats import IterationRecord
from agentrt.runtime.scheduling.policies.base import CallState


@dataclass(slots=True)
class DecodeSpan:
    """What `run` did: `record` covers the span's complete iterations, which end at `end`; `next`
    is the scheduled batch of the iteration after it when a waiting call was admitted there."""

    end: float
    record: IterationRecord
    next: Batch | None


def run(batcher: Batcher, batch: Batch, duration: float, horizon: float) -> DecodeSpan | None:
    """Run the span that starts with `batch` (scheduled at `batch.start`, lasting `duration`,
    `batch.shape()` done) and apply it; None, with nothing changed, when `batch` does not start
    one (the loop then runs it as one iteration)."""
    seqs = list(batch.tokens)
    if (batch.num_prefill_tokens or batch.num_swap_tokens or batch.num_preemptions
            or len(seqs) != len(batcher.running)):
        return None
    max_steps = min(s.num_output_tokens - s.num_generated for s in seqs) - 1  # before the first finish
    end = batch.start + duration
    stop = min(horizon, batcher.scheduler.pins.next_expiry())
    if max_steps < 2 or end >= stop:
        return None
    context = sum(s.num_computed for s in seqs) + len(seqs)  # read by the first iteration
    durations, ends = batcher.cost.decode_steps(len(seqs), context, end, max_steps - 1, stop)
    return _Walk(batcher, seqs, batch.start, [duration, *durations], [end, *ends]).run()


class _Walk:
    """The span's iterations one by one: block events, admission checks, accounting."""

    def __init__(self, batcher: Batcher, seqs: list[SimSequence], start: float, durations: list[float],
                 ends: list[float]) -> None:
        self.batcher, self.seqs, self.start, self.durations, self.ends = batcher, seqs, start, durations, ends
        bs = batcher.kv.block_size
        # sequence i takes a block when scheduled at step firsts[i] + m * bs, and registers one when
        # it completes step j with (c_i + j + 1) % bs == 0; both keyed by step % bs
        self.firsts = [len(s.block_ids) * bs - s.num_computed for s in seqs]  # >= 1: step 0 has its blocks
        self.allocations: list[list[int]] = [[] for _ in range(bs)]
        self.registrations: list[list[int]] = [[] for _ in range(bs)]
        for i, seq in enumerate(seqs):
            self.allocations[self.firsts[i] % bs].append(i)
            self.registrations[-(seq.num_computed + 1) % bs].append(i)
        self.used = batcher.kv.num_used  # after scheduling the last complete step
        self.waiting = batcher.scheduler.num_waiting > 0  # admission is checked at every step
        self.calls = [s.call for s in seqs]
        self.accounted = [0] * len(seqs)  # call i has been accounted durations[:accounted[i]]
        # per call, the first step whose accounting may change its level (len(durations): none)
        self.level_changes = (batcher.scheduler.policy.steps_without_level_change(self.calls, durations)
                              if self.waiting else [])
        self.account_at = min(self.level_changes, default=len(durations))

    def run(self) -> DecodeSpan:
        batcher, seqs, durations = self.batcher, self.seqs, self.durations
        scheduler, kv, bs = batcher.scheduler, batcher.kv, batcher.kv.block_size
        allocations, registrations, firsts = self.allocations, self.registrations, self.firsts
        waiting = self.waiting
        self._register(0, lagging=True)
        if self.account_at == 0:
            self._account(1)
        for j in range(1, len(durations)):
            r = j % bs
            grew = False
            if allocations[r]:
                due = [i for i in allocations[r] if j >= firsts[i]]
                if len(due) > kv.num_free:
                    return self._finish(j)  # a scheduling pass that frees memory: run it normally
                if due:  # one `allocate` for them all: the same blocks, popped in the same order
                    for i, block in zip(due, kv.allocate(len(due))):
                        seqs[i].block_ids.append(block)
                grew = bool(due)
            if waiting:
                t = self.ends[j - 1]
                ordered = scheduler.order_waiting(t)
                if not batcher.admits_nothing(len(seqs), ordered):
                    span = self._finish(j)
                    span.next = Batch(t, dict.fromkeys(seqs, 1), len(seqs))
                    batcher.admit_waiting(span.next, ordered)
                    return span
            if grew:
                self.used = kv.num_used
            if registrations[r]:
                self._register(j)
            if j == self.account_at:
                self._account(j + 1)
        return self._finish(len(durations))

    def _account(self, num_steps: int) -> None:
        """Account the steps before `num_steps` to the calls whose level may change at step
        `num_steps - 1`. While calls wait, each step's admission check reads the running calls'
        keys and levels, which only a level change (a demotion by quantum) moves, and nothing
        reads their service: a call is accounted at a step where its level may change, as step
        by step, and otherwise when the span ends (`_account_all`: the same sums, in the same order)."""
        changes, accounted, durations = self.level_changes, self.accounted, self.durations
        policy = self.batcher.scheduler.policy
        for i, step in enumerate(changes):
            if step < num_steps:
                call = self.calls[i]
                self.batcher.scheduler.on_iterations((call,), durations[accounted[i]:num_steps])
                accounted[i] = num_steps
                changes[i] = num_steps + policy.steps_without_level_change((call,), durations[num_steps:])[0]
        self.account_at = min(changes)

    def _account_all(self, num_steps: int) -> None:
        """Account every call the steps before `num_steps` it has not been accounted yet."""
        groups: dict[int, list[CallState]] = {}  # calls by their first step not accounted yet
        for call, start in zip(self.calls, self.accounted):
            groups.setdefault(start, []).append(call)
        for start, calls in groups.items():
            if start < num_steps:
                self.batcher.scheduler.on_iterations(calls, self.durations[start:num_steps])
        self.accounted = [num_steps] * len(self.calls)

    def _register(self, step: int, lagging: bool = False) -> None:
        """Prefix-cache registrations at the end of `step` (`lagging`: of every sequence, whose
        blocks filled before the span may not be registered yet)."""
        kv, bs = self.batcher.kv, self.batcher.kv.block_size
        for i in (range(len(self.seqs)) if lagging else self.registrations[step % bs]):
            seq = self.seqs[i]
            full = (seq.num_computed + step + 1) // bs
            if full > seq.num_registered_blocks:
                seq.registered_own &= kv.register(seq.block_ids, seq.hashes, seq.num_registered_blocks, full)
                seq.num_registered_blocks = full

    def _finish(self, num_steps: int) -> DecodeSpan:
        """Apply the first `num_steps` iterations to the sequences and the counters."""
        durations = self.durations[:num_steps]
        n, c, kv = len(self.seqs), self.batcher.counters, self.batcher.kv
        self._account_all(num_steps)  # what is left (all of it when no call waited: nothing read it)
        for seq in self.seqs:
            seq.num_computed += num_steps
            seq.num_generated += num_steps
            seq.max_computed = seq.num_computed  # a decode step computes past the high-water mark
            seq.service_time = reduce(add, durations, seq.service_time)
        c.num_iterations += num_steps
        c.busy_time = reduce(add, durations, c.busy_time)
        c.num_decode_tokens += n * num_steps
        usage = self.used / kv.num_blocks
        c.max_batch_size = max(c.max_batch_size, n)
        c.max_kv_usage = max(c.max_kv_usage, usage)
        record = IterationRecord(self.start, reduce(add, durations, 0.0), n, 0, n * num_steps,
                                 self.batcher.scheduler.num_waiting, usage, kv.num_pinned_blocks, 0,
                                 num_iterations=num_steps)
        return DecodeSpan(self.ends[num_steps - 1], record, None)
