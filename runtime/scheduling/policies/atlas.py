"""`atlas` (Autellix, programs with parallel branches): a call's priority is its critical-path
service, p(c) = 0 for a root call, else max over parents k of p(k) + t(k). The runtime computes it
from the program's DAG and passes it in `SchedHints.priority`; the policy orders by it."""

from __future__ import annotations

from agentrt.runtime.scheduling.policies.base import CallState
from agentrt.runtime.scheduling.policies.queues import AutellixPolicy


class ATLASPolicy(AutellixPolicy):
    name = "atlas"

    def priority_of(self, call: CallState) -> float:
        return call.priority
