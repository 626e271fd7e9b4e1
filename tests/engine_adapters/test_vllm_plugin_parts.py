"""The vLLM plugin's named pieces on hand-built states, without vLLM: the ranking written into
vLLM's queues, the requests residency gating holds, and the per-step accounting."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from agentrt.engine_adapters.kv import chunk_pairs
from agentrt.engine_adapters.vllm.held import HeldRequests
from agentrt.engine_adapters.vllm.ranking import UNRANKED, rank
from agentrt.engine_adapters.vllm.records import CallRecord
from agentrt.engine_adapters.vllm.steps import PrefillRate, StepAccounting, StepClock, StepTimes
from agentrt.runtime.scheduling import CallState


@dataclass
class Queue:
    """vLLM's request queue as the plugin uses it (iteration, add, remove)."""

    requests: list[Any] = field(default_factory=list)

    def __iter__(self) -> Any:
        return iter(sorted(self.requests, key=lambda r: r.priority))

    def __len__(self) -> int:
        return len(self.requests)

    def add_request(self, request: Any) -> None:
        self.requests.append(request)

    def remove_request(self, request: Any) -> None:
        self.requests.remove(request)

    def remove_requests(self, requests: list[Any]) -> None:
        for request in requests:
            self.requests.remove(request)


def request(request_id: str, **fields: Any) -> Any:
    return SimpleNamespace(request_id=request_id, priority=UNRANKED, **fields)


def call(call_id: str, key: tuple[Any, ...] = (), pending: bool = False) -> CallState:
    return CallState(call_id=call_id, program_id=call_id, arrival=0.0, key=key, pending=pending)


def test_rank_writes_the_policy_order_into_waiting_and_running_requests() -> None:
    waiting = Queue([request("a"), request("b"), request("victim")])
    running = [request("r1"), request("r2"), request("foreign")]  # foreign: unknown to the scheduler
    calls = {"r1": call("r1", (5,)), "r2": call("r2", (1,))}
    rank([call("b"), call("a")], [waiting, Queue()], running, calls, lambda c: c.key)
    assert [(r.request_id, r.priority) for r in waiting] == [("b", 0), ("a", 1), ("victim", UNRANKED)]
    assert [r.priority for r in running] == [1, 0, UNRANKED]  # vLLM's victim, the max: the key that sorts last


def test_held_requests_leave_and_rejoin_vllms_waiting_queue_with_the_working_set() -> None:
    waiting, held = Queue([request("w1"), request("w2")]), HeldRequests()
    gated = request("g")
    waiting.add_request(gated)
    held.hold(waiting, gated)
    assert len(held) == 1 and [r.request_id for r in waiting] == ["w1", "w2"]
    calls = {"w1": call("w1", pending=True), "w2": call("w2"), "g": call("g")}
    held.sync(waiting, calls, [calls["g"], calls["w2"]])  # g's program joined, w1's left (a preemption)
    assert sorted(r.request_id for r in waiting) == ["g", "w2"] and len(held) == 1
    held.drop("w1")  # aborted while held
    assert len(held) == 0


def test_a_step_is_accounted_to_the_calls_it_computed_for() -> None:
    accounting = StepAccounting(record_steps=4)
    requests = {"p": request("p", num_computed_tokens=100, num_prompt_tokens=100),  # its 100-token prefill
                "d": request("d", num_computed_tokens=51, num_prompt_tokens=40),  # one decode token
                "gone": request("gone", num_computed_tokens=1, num_prompt_tokens=1)}
    accounting.records.update(p=CallRecord("p.1", 0.0), d=CallRecord("d.1", 0.0, max_computed=50))
    step = SimpleNamespace(num_scheduled_tokens={"p": 100, "d": 1, "unknown": 3})
    assert accounting.account(step, requests, StepTimes(0.5, 0.25, 0.2, 0.01)) == (["p", "d"], 100, 100 * 101 // 2)
    assert accounting.records["p"].num_prefill_tokens == 100 and accounting.records["d"].num_prefill_tokens == 0
    assert accounting.records["d"].max_computed == 51 and accounting.records["p"].service_time == 0.5
    (recorded,) = accounting.take_steps()
    assert (recorded.num_prefill_tokens, recorded.num_decode_tokens, recorded.num_context_tokens,
            recorded.num_requests, recorded.cpu_seconds, recorded.thread_cpu_seconds,
            recorded.schedule_cpu_seconds) == (100, 1, 151, 2, 0.25, 0.2, 0.01)
    assert accounting.take_steps() == [] and (accounting.num_steps, accounting.busy_time) == (1, 0.5)


def test_the_step_clock_splits_a_steps_cpu_time_between_schedule_the_thread_and_the_process() -> None:
    clock, out = StepClock(), object()
    start = clock.now()
    burn(0.02)  # schedule()'s own work
    clock.begin(out, start)
    burn(0.03)  # the model's forward pass, on the same thread
    times = clock.end(out)
    assert 0.02 <= times.schedule_cpu_seconds < times.thread_cpu_seconds <= times.cpu_seconds
    assert times.thread_cpu_seconds >= 0.05 and times.seconds >= times.thread_cpu_seconds
    assert clock.end(object()) == StepTimes(0.0, 0.0, 0.0, 0.0)  # a step it never saw begin


def burn(cpu_seconds: float) -> None:
    end = time.thread_time() + cpu_seconds
    while time.thread_time() < end:
        pass


def test_the_prefill_rate_prices_tokens_and_the_pairs_a_cached_context_adds() -> None:
    """Steps that cost 0.4 ms a token and 0.3 us a pair (the bench model on vLLM's CPU engine): the
    rate recovers both, so a prefill after 768 cached tokens costs more than the same tokens fresh,
    and re-prefilling a whole context costs its pairs too."""
    rate = PrefillRate(seconds_per_token=1e-4)
    rate.observe(16, 136, 1.0)  # too few tokens to measure
    assert rate.seconds(1000, 200) == 800 * 1e-4
    rate.observe(256, chunk_pairs(0, 256), 256 * 4e-4 + chunk_pairs(0, 256) * 3e-7)
    assert rate.seconds_per_token == pytest.approx(256 * 4e-4 / 256 + 257 / 2 * 3e-7)  # one step: tokens alone
    for k, n in [(0, 64), (256, 128), (768, 256), (512, 64), (0, 512)]:
        rate.observe(n, chunk_pairs(k, n), n * 4e-4 + chunk_pairs(k, n) * 3e-7)
    assert (rate.seconds_per_token, rate.seconds_per_pair) == (pytest.approx(4e-4), pytest.approx(3e-7))
    assert rate.seconds(1024, 768) == pytest.approx(256 * 4e-4 + chunk_pairs(768, 256) * 3e-7)
    assert rate.seconds(1024, 768) > 1.4 * rate.seconds(256)
    assert rate.seconds(1024) == pytest.approx(1024 * 4e-4 + chunk_pairs(0, 1024) * 3e-7)


