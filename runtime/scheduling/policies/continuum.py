"""`continuum` (Continuum): program-level FCFS (by the program's first arrival), calls whose
program's KV was pinned when they arrived first (their context is still resident), TTL pinning
by cost/benefit, and under memory pressure the pin of the program that arrived last goes first.
Like vLLM FCFS, on which Continuum builds, it never preempts for a waiting call; when running
calls run out of memory the victim is the call of the latest program."""

from __future__ import annotations

from agentrt.runtime.scheduling.pinning import SortKey
from agentrt.runtime.scheduling.policies.base import CallState, PinState, Policy, ProgramState
from agentrt.runtime.scheduling.policies.ttl import TTLPinning


class ContinuumPolicy(TTLPinning, Policy):
    name = "continuum"

    def sort_key(self, call: CallState, program: ProgramState, pinned: bool) -> SortKey:
        return (not pinned, call.program_arrival, call.arrival)

    def pin_release_key(self, pin: PinState) -> SortKey:
        return (-pin.program_arrival, -pin.start)
