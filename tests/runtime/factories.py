"""Plain factories for scheduler tests: hand-built calls, programs and schedulers."""

from __future__ import annotations

from typing import Any

from agentrt.engine_adapters.base import SchedHints
from agentrt.runtime.scheduling.policies import CallState, PolicyConfig, ProgramState, make_policy
from agentrt.runtime.scheduling.policies.base import Policy
from agentrt.runtime.scheduling.scheduler import ProgramScheduler


def make_config(policy: str = "agentrt", **settings: Any) -> PolicyConfig:
    return PolicyConfig(name=policy, **settings)


def make_policy_for(policy: str = "agentrt", **settings: Any) -> Policy:
    return make_policy(make_config(policy, **settings))


def make_scheduler(policy: str = "agentrt", **settings: Any) -> ProgramScheduler:
    return ProgramScheduler(make_config(policy, **settings))


def short_of_memory(sched: ProgramScheduler) -> ProgramScheduler:
    """As if the last pin decision saw the waiting calls want more KV blocks than were free: the
    calls that arrive next get agentrt's ATLAS order (`ProgramScheduler.memory_short`)."""
    sched._demand_exceeds_free = True
    return sched


def make_program(program_id: str = "p0", *, arrival: float = 0.0, service: float = 0.0,
                 wait: float = 0.0) -> ProgramState:
    return ProgramState(program_id, arrival, service=service, wait=wait)


def make_call(call_id: str, program_id: str = "p0", *, arrival: float = 0.0, seq: int = 0,
              **fields: Any) -> CallState:
    """A hand-built waiting call (for policy-level tests that bypass the scheduler)."""
    fields.setdefault("waiting_since", arrival)
    fields.setdefault("ratio_from", arrival)
    return CallState(call_id=call_id, program_id=program_id, arrival=arrival, seq=seq, **fields)


def submit(sched: ProgramScheduler, call_id: str, program_id: str, now: float, *,
           program_service: float = 0.0, priority: float = 0.0, program_arrival: float | None = None,
           gap_samples: tuple[float, ...] = (), prefill_time: float = 0.0) -> CallState:
    """Arrive a call at the scheduler with the hints the runtime would compute."""
    hints = SchedHints(program_arrival=now if program_arrival is None else program_arrival,
                       program_service=program_service, priority=priority, gap_samples=gap_samples)
    return sched.add_call(call_id, program_id, hints, now, prefill_time=prefill_time)


def run(sched: ProgramScheduler, call: CallState, start: float, duration: float) -> None:
    """Admit `call` at `start` and account one iteration of `duration` to it."""
    sched.on_scheduled(call, start)
    sched.on_iteration([call], duration)


def finish(sched: ProgramScheduler, call: CallState, now: float, *, num_blocks: int = 10,
           total_blocks: int = 1000, free_blocks: int = 500, wanted_blocks: int = 0,
           reprefill_time: float = 1.0, queue_delay: float = 0.0) -> float:
    """Finish a call; returns the pin TTL the scheduler chose."""
    return sched.on_call_finished(call, now, num_blocks=num_blocks, total_blocks=total_blocks,
                                  free_blocks=free_blocks, wanted_blocks=wanted_blocks,
                                  reprefill_time=reprefill_time, queue_delay=queue_delay)


def ids(calls: list[CallState]) -> list[str]:
    return [c.call_id for c in calls]
