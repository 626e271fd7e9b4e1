"""The plugin's per-step measurements: when each step began and ended (`StepClock`), what it
computed for each call (`StepAccounting`: the calls' records, the recorded steps) and the
measured prefill speed (`PrefillRate`, for the pin decision's re-prefill estimate)."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from agentrt.engine_adapters.vllm.records import CallRecord, StepRecord


class PrefillRate:
    """Measured seconds per prefill token (EWMA over steps), for re-prefill estimates."""

    def __init__(self, seconds_per_token: float = 1e-4) -> None:
        self.seconds_per_token = seconds_per_token

    def observe(self, num_prefill_tokens: int, seconds: float) -> None:
        if num_prefill_tokens >= 32:
            self.seconds_per_token += 0.2 * (seconds / num_prefill_tokens - self.seconds_per_token)

    def seconds(self, num_tokens: int, num_cached_tokens: int = 0) -> float:
        return max(num_tokens - num_cached_tokens, 0) * self.seconds_per_token


class StepClock:
    """A step lasts from the `schedule()` that formed it to the `update_from_output()` that
    receives its result; with async scheduling steps overlap, so a step starts no earlier than
    the previous one's result."""

    def __init__(self) -> None:
        self._starts: dict[int, tuple[float, float]] = {}  # id(scheduler output) -> (monotonic, process CPU time)
        self._last_end = 0.0

    def begin(self, out: Any, start: float) -> None:
        self._starts[id(out)] = (start, time.process_time())

    def end(self, out: Any) -> tuple[float, float]:
        """The step's wall seconds and the engine process's CPU seconds over it."""
        end, cpu_end = time.monotonic(), time.process_time()
        start, cpu_start = self._starts.pop(id(out), (end, cpu_end))
        seconds = end - max(start, self._last_end)
        self._last_end = end
        return seconds, cpu_end - cpu_start


class StepAccounting:
    """Per-call records (tokens, service, preemptions) and, when asked, the steps themselves."""

    def __init__(self, record_steps: int = 0) -> None:
        self.records: dict[str, CallRecord] = {}  # by vLLM request id
        self.steps: deque[StepRecord] = deque(maxlen=record_steps or None)
        self.record_steps = bool(record_steps)
        self.num_steps = 0
        self.busy_time = 0.0

    def account(self, out: Any, requests: dict[str, Any], seconds: float, cpu_seconds: float) -> tuple[list[str], int]:
        """Account one step (`out`, vLLM's SchedulerOutput) of `seconds`; returns the ids of the
        requests it computed for and its number of prefill tokens."""
        num_prefill = num_decode = num_context = num_pairs = 0
        scheduled: list[str] = []
        for request_id, n in out.num_scheduled_tokens.items():
            request, record = requests.get(request_id), self.records.get(request_id)
            if request is None or record is None:
                continue
            after = request.num_computed_tokens  # includes this step's tokens
            before = after - n
            if n == 1 and before >= request.num_prompt_tokens:
                num_decode += 1
            else:
                num_prefill += n
                record.num_prefill_tokens += n
                record.num_recomputed_tokens += max(min(after, record.max_computed) - before, 0)
            record.max_computed = max(record.max_computed, after)
            record.service_time += seconds
            num_context += after
            num_pairs += n * before + n * (n + 1) // 2  # each new token attends to all before it
            scheduled.append(request_id)
        self.num_steps += 1
        self.busy_time += seconds
        if self.record_steps:
            self.steps.append(StepRecord(num_prefill, num_decode, num_context, seconds, num_pairs, len(scheduled),
                                         cpu_seconds))
        return scheduled, num_prefill

    def take_steps(self) -> list[StepRecord]:
        steps = list(self.steps)
        self.steps.clear()
        return steps
