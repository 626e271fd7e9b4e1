"""`fcfs`: calls in arrival order, per call; stock vLLM. The baseline: never preempts for a waiting
call, and when running calls run out of memory the latest arrival is the victim (as vLLM)."""

from __future__ import annotations

from agentrt.runtime.scheduling.policies.base import Policy


class FCFSPolicy(Policy):
    name = "fcfs"
