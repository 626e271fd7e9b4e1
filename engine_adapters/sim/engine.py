"""`SimEngine`: a simulated continuous-batching GPU engine that runs under virtual time.

The engine loop is one background task: form a batch (`Batcher.schedule`), sleep for the cost
model's duration of that iteration on the runtime clock, apply its progress, repeat; when nothing
is runnable it waits, without polling, for an arrival or the scheduler's next timed decision
(`ProgramScheduler.next_wakeup()`: a pin expiry, a promotion, an idle release). On trio with
`trio.testing.MockClock(autojump_threshold=0)` the sleeps take no wall time, so an hour of
serving replays in seconds. On a real clock it paces itself like the GPU would.

Calls, aborts, program ends and tool hints are posted to an inbox and applied at the next
iteration boundary (as vLLM's engine core does), sorted by (time, program, call): trio runs the
tasks woken at one instant in random order, and the simulation must not depend on it, so that
identical inputs give identical runs. On a virtual clock the loop also runs iterations back to
back, without yielding, until the next moment another task can act (see `clock.py`).

Most iterations of an agent workload only decode, with the same batch as the one before; on a
virtual clock such a stretch, up to the next event (a finish, a block shortage, a pin expiry, an
admission, the horizon), runs as one step of the loop (`span.py`) with the same results, so a
replay costs per call and per block rather than per token.

Alternatives considered: a heap-driven discrete-event core with its own clock (faster, but the
runtime, the programs and the tools would need to be rewritten against it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import anyio

from agentrt.engine_adapters.base import (Engine, GenerationRequest, GenerationResult, Responder, filler_text,
                                          prompt_to_tokens)
from agentrt.engine_adapters.driver import EngineDriver
from agentrt.engine_adapters.sim import clock, span
from agentrt.engine_adapters.sim.batcher import Batch, Batcher
from agentrt.engine_adapters.sim.config import SimConfig
from agentrt.engine_adapters.sim.cost_model import CostModel
from agentrt.engine_adapters.sim.host_tier import HostKVTier
from agentrt.engine_adapters.sim.kv_cache import KVCache
from agentrt.engine_adapters.sim.profiles import DEFAULT_PROFILE, GiB, Profile, get_profile
from agentrt.engine_adapters.sim.sequence import SimSequence
from agentrt.engine_adapters.sim.stats import Counters, IterationRecord, SimStats, snapshot
from agentrt.exceptions import EngineError, LLMCallError, PromptTooLongError
from agentrt.programs.tokens import Tokens
from agentrt.runtime.scheduling.decisions import Decision, DecisionLog
from agentrt.runtime.scheduling.scheduler import ProgramScheduler
from agentrt.tools.clock import event_loop_clock

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from agentrt.engine_adapters.sim.lockstep import Lockstep
    from agentrt.runtime.scheduling.policies.base import Policy
    from agentrt.runtime.scheduling.policies.config import PolicyConfig


_ARRIVE, _ABORT, _RELEASE, _HINT = range(4)  # inbox event kinds


_event_order = itemgetter(0, 1, 2)  # an inbox event's (time, program, call)


class SimEngine(Engine):
    """A simulated GPU serving one model (a `Profile`), scheduling through the shared policies.

    profile: a name from `PROFILES` or a `Profile` (e.g. from `calibrate`). Default: Llama-3.1-8B
        on one H100.
    config / options: `SimConfig` fields (KV size, batch limits, preemption mode, ...); keyword
        options override `config`.
    lockstep: run under this shared loop instead of its own (replicas on one virtual clock, see
        `lockstep.py`).
    responder: `responder(request) -> str`, the text of each answer, called once when the call
        arrives. Without it the text is filler of the output length. The output length is
        `max_tokens`, or, when a responder is given and `ignore_eos` is not set, the number of
        words of its text (at most `max_tokens`). The output tokens are synthetic, keyed by the
        call id and the seed, so a program's next prompt (`prompt + output + new`) hits the cache.

    Raises UnknownNameError for an unknown profile and ConfigError for bad options.
    """

    name = "sim"

    def __init__(self, profile: str | Profile = DEFAULT_PROFILE, config: SimConfig | None = None, *,
                 responder: Responder | None = None, lockstep: Lockstep | None = None, **options: Any) -> None:
        self.profile = get_profile(profile)
        self.config = cfg = SimConfig.build(config, options)
        self.responder = responder
        self.lockstep = lockstep
        self.cost_model = CostModel(self.profile)
        self.block_size = cfg.block_size or self.profile.block_size
        self.num_blocks = cfg.num_gpu_blocks or self.profile.num_kv_blocks(cfg.gpu_memory_utilization, self.block_size)
        self.max_model_len = cfg.max_model_len or self.profile.model.max_model_len
        self.max_num_batched_tokens = cfg.max_num_batched_tokens or self.profile.max_num_batched_tokens
        self.max_num_seqs = cfg.max_num_seqs or self.profile.max_num_seqs
        swap_tokens = int(cfg.swap_space_gib * GiB / self.profile.kv_bytes_per_token_per_gpu)
        self._swap_space_tokens = swap_tokens if cfg.preemption_mode == "swap" else 0
        block_bytes = self.profile.kv_bytes_per_token_per_gpu * self.block_size
        self._host_kv_blocks = int(cfg.host_kv_gib * GiB / block_bytes)
        self._counters = Counters()
        self._records: deque[IterationRecord] = deque(maxlen=cfg.record_iterations)
        self._batcher: Batcher | None = None
        self._scope: anyio.CancelScope | None = None
        self._wake = anyio.Event()
        self._inbox: list[tuple[float, str, str, int, Any]] = []  # (time, program, call, kind, payload)
        self._stopped = False
        self._fast_forward = cfg.fast_forward
        self._now: Callable[[], float] = anyio.current_time  # the event loop's clock, once started

    @property
    def kv_capacity_tokens(self) -> int:
        return self.num_blocks * self.block_size

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self, policy: PolicyConfig | Policy | str, task_group: TaskGroup) -> None:
        """Start the engine loop in `task_group`. `policy`: a PolicyConfig, a Policy or a policy
        name. Raises EngineError if already started, UnknownNameError for an unknown policy."""
        if self._batcher is not None:
            raise EngineError("SimEngine is already started; create a new engine for another run")
        self._now = event_loop_clock()
        kv = KVCache(self.num_blocks, self.block_size)
        scheduler = ProgramScheduler(policy, kv_capacity_tokens=self.kv_capacity_tokens,
                                     host_kv_capacity_tokens=self._host_kv_blocks * self.block_size,
                                     decisions=DecisionLog() if self.config.record_decisions else None)
        host = HostKVTier(self._host_kv_blocks) if self._host_kv_blocks else None
        driver = EngineDriver(scheduler, kv, self.cost_model.prefill_time if host is None else self._reload_time)
        self._batcher = Batcher(kv, driver, self.cost_model, self._counters,
                                max_num_batched_tokens=self.max_num_batched_tokens,
                                max_num_seqs=self.max_num_seqs, swap_space_tokens=self._swap_space_tokens,
                                host=host)
        self._scope = anyio.CancelScope()
        if self.lockstep is not None:
            self.lockstep.join(self, task_group)
        else:
            task_group.start_soon(self._loop, self._scope)

    async def stop(self) -> None:
        """Stop the loop; calls still queued or running fail with EngineError."""
        self._stopped = True
        if self._scope is not None:
            self._scope.cancel()
        if self.lockstep is not None:
            self.lockstep.leave(self)
        batcher = self._batcher
        if batcher is None:
            return
        pending = [e[4] for e in self._inbox if e[3] == _ARRIVE]
        self._inbox[:] = [e for e in self._inbox if e[3] != _ARRIVE]
        self._drain()  # the releases of programs that just ended: their pins and blocks go back
        for seq in [*batcher.seqs.values(), *pending]:
            batcher.abort(seq.request.call_id, anyio.current_time())
            seq.error = EngineError("the SimEngine was stopped while this call was in flight")
            seq.wake()

    # -- calls ------------------------------------------------------------------------------------
    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Run one call. Raises PromptTooLongError if prompt + max_tokens exceeds the context length
        or the whole KV cache, LLMCallError if the call is aborted or malformed, EngineError if the
        engine is not started or stops."""
        self._started()
        seq = self._sequence(request)
        seq.done = anyio.Event()
        self._post(request.program_id, request.call_id, _ARRIVE, seq)
        await seq.done.wait()
        if seq.error is not None:
            raise seq.error
        return self._result(seq)

    def submit(self, request: GenerationRequest, on_done: Callable[[GenerationResult | BaseException], None]) -> bool:
        """`generate` without a task: `on_done` gets the result, or the exception `generate` would
        raise, when the call ends (at once for a malformed call). Saves the runtime a task and two
        scheduling rounds per call."""
        try:
            self._started()
            seq = self._sequence(request)
        except Exception as exc:  # what `generate` would raise goes to the callback
            on_done(exc)
            return True
        seq.on_done = lambda done: on_done(done.error if done.error is not None else self._result(done))
        self._post(request.program_id, request.call_id, _ARRIVE, seq)
        return True

    async def abort(self, call_id: str) -> None:
        """Remove a queued or running call at the next iteration boundary and free its blocks;
        its `generate` raises LLMCallError. No-op for an unknown or finished call."""
        if self._batcher is None:
            return
        seq = self._batcher.seqs.get(call_id) or next(
            (e[4] for e in self._inbox if e[3] == _ARRIVE and e[2] == call_id), None)
        if seq is not None:
            self._post(seq.program_id, call_id, _ABORT, None)

    async def release_program(self, program_id: str) -> None:
        """Drop the program's pin and per-program state (at the next iteration boundary)."""
        if self._batcher is not None:
            self._post(program_id, "", _RELEASE, None)

    async def hint_tool(self, program_id: str, tool_name: str, gap_samples: tuple[float, ...]) -> None:
        """Re-decide the program's pin TTL from the running tool's expected durations."""
        if self._batcher is not None:
            self._post(program_id, "", _HINT, gap_samples)

    def decisions(self) -> list[Decision]:
        """The scheduler's decisions so far, in order (empty unless `record_decisions`)."""
        log = self._batcher.scheduler.decisions if self._batcher else None
        return log.since(0) if log is not None else []

    def statistics(self) -> SimStats:
        kv = self._batcher.kv if self._batcher else None
        if kv is not None:
            self._counters.num_evicted_blocks = kv.num_evicted_blocks
        scheduler_stats = self._batcher.driver.statistics() if self._batcher else None
        return snapshot(self._counters, scheduler_stats, self._records, profile=self.profile.name,
                        num_blocks=self.num_blocks,
                        block_size=self.block_size, num_pinned_blocks=kv.num_pinned_blocks if kv else 0,
                        num_used_blocks=kv.num_used if kv else 0)

    # -- the loop ---------------------------------------------------------------------------------
    async def _loop(self, scope: anyio.CancelScope) -> None:
        batcher = self._batcher
        assert batcher is not None, "the loop starts after the batcher"
        virtual = clock.is_virtual()
        # On a real clock the loop wakes late (by the event loop's latency, times the clock's
        # scale under `agentrt serve --time-scale`): a busy engine resumes where its last
        # iteration ended and runs iterations back to back until it has caught up with the clock,
        # so the simulated GPU's throughput does not depend on how late the loop wakes.
        resume: float | None = None
        with scope, clock.loop_running(virtual):
            while True:
                await clock.settle(virtual)
                now = self._now()
                self._drain()
                start = now if virtual or resume is None else min(resume, now)
                horizon = clock.horizon(virtual, now)
                end, finished = self._run(batcher, start, horizon)
                if end > start:
                    resume = end
                    if end > now:
                        await clock.sleep_until(virtual, end, horizon)
                    for seq in finished:
                        seq.wake()
                else:
                    resume = None
                    self._wake = anyio.Event()
                    with anyio.CancelScope(deadline=batcher.driver.next_wakeup()):
                        await self._wake.wait()

    def _run(self, batcher: Batcher, now: float, horizon: float) -> tuple[float, list[SimSequence]]:
        """Run iterations back to back from `now` until one finishes a call, one ends at or past
        `horizon` (when another task may act), or nothing is runnable; a stretch of decode-only
        iterations runs as one step (`span.py`). Returns the end time and the finished calls
        (their callers are woken once the clock has reached the end)."""
        t = now
        batch = batcher.schedule(t)
        while batch.tokens:  # else idle, or waiting calls the policy holds back (residency gating)
            duration = self._duration(batch)
            decode_span = span.run(batcher, batch, duration, horizon) if self._fast_forward else None
            if decode_span is not None:
                if self._records.maxlen:
                    self._records.append(decode_span.record)
                t = decode_span.end
                if decode_span.next is not None:  # a call was admitted in the next iteration
                    batch = decode_span.next
                    continue
                if t >= horizon:
                    return t, []
            else:
                batcher.account(batch, duration)
                self._record(batch, duration)
                end = t + duration
                finished = batcher.complete(batch, end, duration)
                if finished or end >= horizon:
                    return end, finished
                t = end
            batch = batcher.schedule(t)
        return t, []

    def _post(self, program_id: str, call_id: str, kind: int, payload: Any) -> None:
        self._inbox.append((self._now(), program_id, call_id, kind, payload))
        self._wake.set()

    def _drain(self) -> None:
        """Apply what arrived since the last iteration, in a canonical order (time, program, call):
        trio runs tasks woken at one instant in random order, the simulation must not depend on it."""
        batcher = self._batcher
        if not self._inbox or batcher is None:
            return
        events = sorted(self._inbox, key=_event_order)
        self._inbox.clear()
        for t, program_id, call_id, kind, payload in events:
            if kind == _ARRIVE:
                batcher.add(payload, payload.request.hints, t)
            elif kind == _ABORT:
                seq = batcher.abort(call_id, t)
                if seq is not None:
                    seq.error = LLMCallError("aborted", call_id=call_id, call_name="llm")
                    seq.wake()
            elif kind == _RELEASE:
                batcher.release_program(program_id)
            else:
                batcher.driver.update_pin(program_id, payload, t)

    def _reload_time(self, num_tokens: int, num_cached_tokens: int = 0) -> float:
        """With a host KV tier: getting a context back costs the cheaper of its PCIe load and its
        prefill, so the policy's pin TTL (keep vs let go) weighs that, not the prefill alone. It
        assumes the host holds the context (write-through does, unless LRU dropped it since)."""
        cost = self.cost_model
        return min(cost.prefill_time(num_tokens, num_cached_tokens), cost.swap_time(num_tokens - num_cached_tokens))

    def _duration(self, batch: Batch) -> float:
        return self.cost_model.iteration_time(*batch.shape()) + self.cost_model.swap_time(batch.num_swap_tokens)

    def _record(self, batch: Batch, duration: float) -> None:
        c = self._counters
        c.num_iterations += 1
        c.busy_time += duration
        kv = self._batcher.kv  # type: ignore[union-attr]
        usage = kv.num_used / kv.num_blocks
        c.max_batch_size = max(c.max_batch_size, len(batch.tokens))
        c.max_kv_usage = max(c.max_kv_usage, usage)
        if self._records.maxlen:
            self._records.append(IterationRecord(
                batch.start, duration, len(batch.tokens), batch.num_prefill_tokens, batch.num_decode_tokens,
                self._batcher.scheduler.num_waiting, usage, kv.num_pinned_blocks, batch.num_preemptions))  # type: ignore[union-attr]

    # -- helpers ----------------------------------------------------------------------------------
    def _started(self) -> Batcher:
        if self._stopped:
            raise EngineError("this SimEngine was stopped; create a new one for another run")
        if self._batcher is None:
            raise EngineError("SimEngine is not started: `await engine.start(policy, task_group)` first "
                              "(a Runtime does this for the engine it is given)")
        return self._batcher

    def _sequence(self, request: GenerationRequest) -> SimSequence:
        prompt = prompt_to_tokens(request.prompt)
        if request.max_tokens < 1 or not len(prompt):
            self._counters.num_rejected += 1
            raise LLMCallError(f"needs a non-empty prompt and max_tokens >= 1 (got {len(prompt)} prompt tokens, "
                               f"max_tokens={request.max_tokens})", call_id=request.call_id, call_name="llm")
        self._check_fits(request, len(prompt))
        text = self.responder(request) if self.responder else filler_text(request.max_tokens)
        num_out = request.max_tokens
        if self.responder is not None and not request.ignore_eos:
            num_out = max(1, min(num_out, len(text.split())))
        output = Tokens.synthetic(num_out, key=f"sim/{self.config.seed}/{request.call_id}/out")
        context = prompt + output
        return SimSequence(request=request, text=text, output=output, hashes=context.block_hashes(self.block_size),
                           num_prompt_tokens=len(prompt), num_output_tokens=num_out, arrival=self._now(),
                           program_id=request.program_id, context=context)

    def _check_fits(self, request: GenerationRequest, num_prompt: int) -> None:
        total = num_prompt + request.max_tokens
        if total > self.max_model_len:
            limit = f"the context length ({self.max_model_len} tokens)"
        elif -(-total // self.block_size) > self.num_blocks:
            limit = f"the whole KV cache ({self.kv_capacity_tokens} tokens)"
        else:
            return
        self._counters.num_rejected += 1
        raise PromptTooLongError(f"prompt ({num_prompt} tokens) + max_tokens ({request.max_tokens}) exceeds {limit} "
                                 f"of the sim engine ({self.profile.name}); shorten the prompt, lower max_tokens, "
                                 f"or raise max_model_len / num_gpu_blocks", call_id=request.call_id, call_name="llm")

    def _result(self, seq: SimSequence) -> GenerationResult:
        return GenerationResult(
            text=seq.text, output=seq.output, num_prompt_tokens=seq.num_prompt_tokens,
            num_cached_tokens=seq.num_cached_tokens, num_output_tokens=seq.num_output_tokens,
            queue_wait=seq.queue_wait, service_time=seq.service_time,
            first_scheduled=seq.first_scheduled if seq.first_scheduled is not None else seq.arrival,
            finish=seq.finish, num_prefill_tokens=seq.num_prefill_tokens, preemptions=seq.preemptions,
            recomputed_tokens=seq.num_recomputed_tokens, pin_ttl=seq.pin_ttl,
            finish_reason="length" if seq.num_output_tokens == seq.request.max_tokens else "stop")
