"""`mlfq` (FastServe skip-join MLFQ, per call): quanta growing 2x per level; a new call joins the
highest level whose quantum covers its prefill time (so one long prefill does not sit at the top
and get demoted level by level); demotion when its own service exhausts the level's quantum;
promotion to the top after waiting `mlfq_starvation_limit` seconds since it was last served."""

from __future__ import annotations

import math
from bisect import bisect_left

from agentrt.runtime.scheduling.policies.base import CallState, ProgramState
from agentrt.runtime.scheduling.policies.config import PolicyConfig
from agentrt.runtime.scheduling.policies.queues import QueuedPolicy


class MLFQPolicy(QueuedPolicy):
    name = "mlfq"

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config, config.mlfq_quanta())

    def on_arrival(self, call: CallState, program: ProgramState) -> None:
        call.level = min(bisect_left(self.quanta, call.prefill_time), len(self.quanta) - 1)

    def promotion_time(self, call: CallState, program: ProgramState) -> float:
        if call.level == 0:
            return math.inf
        return call.waiting_since + self.config.mlfq_starvation_limit
