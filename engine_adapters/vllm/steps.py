"""The plugin's per-step measurements: when each step began and ended (`StepClock`), what it
computed for each call (`StepAccounting`: the calls' records, the recorded steps) and the
measured prefill cost (`PrefillRate`: per token and per attention pair, for the call's prefill
estimate and the pin decision's re-prefill estimate)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from agentrt.engine_adapters.kv import chunk_pairs
from agentrt.engine_adapters.vllm.records import CallRecord, StepRecord


class PrefillRate:
    """Measured prefill cost, per prefill token and per attention pair (a query-key pair: a
    prefill of n tokens after k cached computes `chunk_pairs(k, n)` = n k + n (n + 1) / 2):
    least squares over the steps with a prefill, older steps forgotten by `MEMORY` a step.

    Why pairs: on vLLM's CPU engine a prefill continuing k cached tokens costs more per token as k
    grows (1.45x a fresh one at k = 768, n = 256 on the bench model), all of it attention reading
    the cached KV (benchmarks/vllm_cpu_prefix.py, docs/vllm.md "Cached context"). A per-token rate
    alone underprices re-prefilling a long context, the price of dropping a pin."""

    MEMORY = 0.95
    MIN_TOKENS = 32  # steps with fewer prefill tokens are mostly fixed cost

    def __init__(self, seconds_per_token: float = 1e-4, seconds_per_pair: float = 0.0) -> None:
        self.seconds_per_token, self.seconds_per_pair = seconds_per_token, seconds_per_pair
        self._tt = self._tp = self._pp = self._ty = self._py = 0.0  # forgotten sums of x x^T and x y

    def observe(self, num_prefill_tokens: int, num_pairs: int, seconds: float) -> None:
        """One step's prefill tokens, their attention pairs and the step's seconds."""
        if num_prefill_tokens < self.MIN_TOKENS:
            return
        t, p, m = float(num_prefill_tokens), float(num_pairs), self.MEMORY
        self._tt, self._tp, self._pp = m * self._tt + t * t, m * self._tp + t * p, m * self._pp + p * p
        self._ty, self._py = m * self._ty + t * seconds, m * self._py + p * seconds
        det = self._tt * self._pp - self._tp * self._tp
        per_token = (self._pp * self._ty - self._tp * self._py) / det if det > 1e-9 * self._tt * self._pp else -1.0
        per_pair = (self._tt * self._py - self._tp * self._ty) / det if per_token >= 0 else -1.0
        if per_token >= 0 and per_pair >= 0:
            self.seconds_per_token, self.seconds_per_pair = per_token, per_pair
        else:  # too few distinct steps, or they say nothing about pairs: tokens alone
            self.seconds_per_token, self.seconds_per_pair = self._ty / self._tt, 0.0

    def seconds(self, num_tokens: int, num_cached_tokens: int = 0) -> float:
        """Estimated seconds to prefill `num_tokens` tokens of which `num_cached_tokens` are cached."""
        num_new = max(num_tokens - num_cached_tokens, 0)
        return (num_new * self.seconds_per_token
                + chunk_pairs(min(num_cached_tokens, num_tokens), num_new) * self.seconds_per_pair)


class StepClock:
    """A step lasts from the `schedule()` that formed it to the `update_from_output()` that
    receives its result; with async scheduling steps overlap, so a step starts no earlier than
    the previous one's result. Besides its wall time, a step's CPU time three ways: the whole
    engine process's (every thread), the scheduling thread's (the scheduler and, on one worker,
    the model), and `schedule()`'s own (agentrt's ranking plus vLLM's scheduler)."""

    def __init__(self) -> None:
        # id(scheduler output) -> its start (monotonic, process CPU, thread CPU) and schedule()'s CPU
        self._starts: dict[int, tuple[tuple[float, float, float], float]] = {}
        self._last_end = 0.0

    @staticmethod
    def now() -> tuple[float, float, float]:
        """The three clocks (monotonic, process CPU, thread CPU), read as `schedule()` begins."""
        return time.monotonic(), time.process_time(), time.thread_time()

    def begin(self, out: Any, start: tuple[float, float, float]) -> None:
        """Called as `schedule()` returns `out`; `start`: `now()` as it began."""
        self._starts[id(out)] = (start, time.thread_time() - start[2])

    def end(self, out: Any) -> StepTimes:
        """The step's times, as `update_from_output()` receives its result."""
        end = self.now()
        (start, cpu_start, thread_start), schedule_cpu = self._starts.pop(id(out), (end, 0.0))
        seconds = end[0] - max(start, self._last_end)
        self._last_end = end[0]
        return StepTimes(seconds, end[1] - cpu_start, end[2] - thread_start, schedule_cpu)


@dataclass(frozen=True, slots=True)
class StepTimes:
    """One step's wall seconds and CPU seconds: the engine process's, the scheduling thread's,
    and `schedule()`'s (see `StepRecord`)."""

    seconds: float
    cpu_seconds: float
    thread_cpu_seconds: float
    schedule_cpu_seconds: float


class StepAccounting:
    """Per-call records (tokens, service, preemptions) and, when asked, the steps themselves."""

    def __init__(self, record_steps: int = 0) -> None:
        self.records: dict[str, CallRecord] = {}  # by vLLM request id
        self.steps: deque[StepRecord] = deque(maxlen=record_steps or None)
        self.record_steps = bool(record_steps)
        self.num_steps = 0
        self.busy_time = 0.0
        self._computed: dict[int, dict[str, int]] = {}  # id(scheduler output) -> its requests' computed tokens

    def begin(self, out: Any, requests: dict[str, Any]) -> None:
        """Called as `schedule()` returns `out`: each scheduled request's computed tokens, this
        step's included. With async scheduling the next step is scheduled before this one's result
        arrives (vLLM's AsyncScheduler: schedule N+1, then update N), and by then a request's
        `num_computed_tokens` also counts the next step's tokens, or is 0 if the next `schedule()`
        preempted it; `account` reads these instead."""
        if out.num_scheduled_tokens:
            self._computed[id(out)] = {r: requests[r].num_computed_tokens for r in out.num_scheduled_tokens}

    def account(self, out: Any, requests: dict[str, Any], times: StepTimes) -> tuple[list[str], int, int]:
        """Account one step (`out`, vLLM's SchedulerOutput) of `times`; returns the ids of the
        requests it computed for, its number of prefill tokens and their attention pairs."""
        seconds = times.seconds
        num_prefill = num_decode = num_context = num_pairs = num_prefill_pairs = 0
        scheduled: list[str] = []
        computed = self._computed.pop(id(out), {})  # as `schedule()` returned `out` (`begin`)
        for request_id, n in out.num_scheduled_tokens.items():
            request, record = requests.get(request_id), self.records.get(request_id)
            if request is None or record is None:
                continue
            after = computed.get(request_id, request.num_computed_tokens)  # includes this step's tokens
            before = after - n
            pairs = chunk_pairs(before, n)  # each new token attends to all before it
            if n == 1 and before >= request.num_prompt_tokens:
                num_decode += 1
            else:
                num_prefill += n
                num_prefill_pairs += pairs
                record.num_prefill_tokens += n
                record.num_recomputed_tokens += max(min(after, record.max_computed) - before, 0)
            record.max_computed = max(record.max_computed, after)
            record.service_time += seconds
            num_context += after
            num_pairs += pairs
            scheduled.append(request_id)
        self.num_steps += 1
        self.busy_time += seconds
        if self.record_steps:
            self.steps.append(StepRecord(num_prefill, num_decode, num_context, seconds, num_pairs, len(scheduled),
                                         times.cpu_seconds, times.thread_cpu_seconds, times.schedule_cpu_seconds))
        return scheduled, num_prefill, num_prefill_pairs

    def take_steps(self) -> list[StepRecord]:
        steps = list(self.steps)
        self.steps.clear()
        return steps
