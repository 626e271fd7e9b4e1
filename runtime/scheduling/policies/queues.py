"""Discretized queues and anti-starvation, shared by plas, atlas, agentrt (Autellix) and mlfq.

Autellix turns a continuous priority (attained service) into K queues by priority range so that
calls of a similar priority share a queue and run FCFS inside it: a pure least-attained-service
order would re-sort at every iteration and interleave calls of similar programs (more preemption,
more KV churn). A new call enters the queue of its program's priority, not always the top one; it
is demoted one queue when its own service exceeds its queue's quantum, and promoted to the top
when it starves.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from functools import reduce
from itertools import accumulate
from operator import add

from agentrt.runtime.scheduling.pinning import SortKey
from agentrt.runtime.scheduling.policies.base import CallState, Policy, ProgramState
from agentrt.runtime.scheduling.policies.config import PolicyConfig


def level_for(priority: float, boundaries: tuple[float, ...]) -> int:
    """The queue whose range [boundaries[i-1], boundaries[i]) holds `priority` (0 = top)."""
    return bisect_right(boundaries, priority)


def ratio_promotion_time(call: CallState, program: ProgramState, beta: float) -> float:
    """When (program wait + call wait) / (program service + call service) reaches `beta`.

    Only the call's current waiting spell grows with time, so the answer is
    ratio_from + beta * (service sum) - (wait already counted). A call in the top queue is never
    promoted (there is nowhere to go). The program's service is at least the call's ATLAS
    priority (a critical path is part of what the program attained), which guards against hints
    that leave `program_service` at 0."""
    if call.level == 0:
        return math.inf
    service = max(program.service, call.priority) + call.ratio_service
    counted = program.wait + call.ratio_wait
    return call.ratio_from + max(beta * service - counted, 0.0)


class QueuedPolicy(Policy):
    """Demotion by quantum; preemption only for a call of a strictly higher queue (same-queue
    calls are FCFS and never preempt each other, which bounds preemption churn)."""

    def __init__(self, config: PolicyConfig, quanta: tuple[float, ...]) -> None:
        super().__init__(config)
        self.quanta = quanta

    def sort_key(self, call: CallState, program: ProgramState, pinned: bool) -> SortKey:
        return (call.level, call.arrival)

    def account_iterations(self, calls: Sequence[CallState], durations: Sequence[float]) -> list[CallState]:
        # the hot loop of every engine iteration: `account_service` inlined, `_demote` called only
        # for a call past its quantum. Over several iterations, a call that no step can demote
        # gets the same sums added in order in C (`reduce`): with durations >= 0 its level
        # service only grows, so no step passes the quantum when the last one does not.
        quanta, last = self.quanta, len(self.quanta) - 1
        demoted = []
        if len(durations) == 1:  # one iteration (most calls): the loop below without its inner loop
            duration = durations[0]
            for call in calls:
                call.service += duration
                call.level_service += duration
                call.ratio_service += duration
                if call.level < last and call.level_service > quanta[call.level] and self._demote(call):
                    demoted.append(call)
            return demoted
        folds = len(durations) > 1 and min(durations) >= 0.0
        for call in calls:
            if folds:
                level_service = reduce(add, durations, call.level_service)
                if call.level >= last or level_service <= quanta[call.level]:
                    call.service = reduce(add, durations, call.service)
                    call.level_service = level_service
                    call.ratio_service = reduce(add, durations, call.ratio_service)
                    continue
            for duration in durations:
                call.service += duration
                call.level_service += duration
                call.ratio_service += duration
                if call.level < last and call.level_service > quanta[call.level] and self._demote(call):
                    demoted.append(call)
        return demoted

    def _demote(self, call: CallState) -> bool:
        if call.level + 1 >= len(self.quanta) or call.level_service <= self.quanta[call.level]:
            return False
        call.level += 1
        call.level_service = 0.0
        return True

    def steps_without_level_change(self, calls: Sequence[CallState], durations: Sequence[float]) -> list[int]:
        # the first step whose accounting takes a call's level service past its quantum (the
        # partial sums, as `account_iterations` adds them, grow: a bisection finds it). A call
        # whose level service plus the summed durations stays clear of its quantum by more than
        # any rounding of those sums (1e-6 relative) cannot pass it: no walk over the steps.
        num_steps = len(durations)
        if not durations or min(durations) < 0.0 or num_steps > 1_000_000:
            return [0] * len(calls)
        quanta, last = self.quanta, len(self.quanta) - 1
        reach = sum(durations) * (1.0 + 1e-6) + 1e-12
        return [num_steps if call.level >= last or (call.level_service + reach) * (1.0 + 1e-6) < quanta[call.level] else
                max(bisect_right(list(accumulate(durations, add, initial=call.level_service)), quanta[call.level]) - 1, 0)
                for call in calls]

    def can_preempt_for(self, candidate: CallState, victim: CallState) -> bool:
        return candidate.level < victim.level


class AutellixPolicy(QueuedPolicy):
    """K queues by priority range with the ratio anti-starvation; `priority_of` picks PLAS or ATLAS."""

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config, config.queue_quanta())
        self.boundaries = config.queue_boundaries()

    def priority_of(self, call: CallState) -> float:
        raise NotImplementedError

    def on_arrival(self, call: CallState, program: ProgramState) -> None:
        call.level = level_for(self.priority_of(call), self.boundaries)

    def promotion_time(self, call: CallState, program: ProgramState) -> float:
        return ratio_promotion_time(call, program, self.config.beta)
