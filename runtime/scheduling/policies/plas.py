"""`plas` (Autellix, single-threaded programs): a call's priority is the service of its program's
calls completed before it (`SchedHints.program_service`); less service runs first."""

from __future__ import annotations

from agentrt.runtime.scheduling.policies.base import CallState
from agentrt.runtime.scheduling.policies.queues import AutellixPolicy


class PLASPolicy(AutellixPolicy):
    name = "plas"

    def priority_of(self, call: CallState) -> float:
        return call.program_service
