"""`ProgramScheduler`: the policy host that every engine embeds.

The simulator and the vLLM scheduler plugin each own one and call it at the same points of their
scheduling loop; all program-level logic (ordering, anti-starvation, preemption choice, service
accounting, pin TTLs and pin release under pressure) lives behind it, so the same code decides on
every engine. Engines keep the mechanics: KV blocks, batching, token budgets.

Call sequence per engine iteration:
  expire_pins(now) -> order_waiting(waiting, now) -> [admit in that order; when memory is short,
  pins_to_release(...) then pick_victim(...)/can_preempt(...)] -> on_iteration(scheduled, waiting, dt)
and per call: add_call at arrival, on_call_finished at finish (returns the TTL), remove_call.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentrt.engine_adapters.base import SchedHints
from agentrt.runtime.policies.base import CallState, PinQuery, PinState, Policy, ProgramState


class ProgramScheduler:
    """Per-program and per-call scheduling state plus the policy that decides on it."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.programs: dict[str, ProgramState] = {}
        self.calls: dict[str, CallState] = {}
        self.pins: dict[str, PinState] = {}

    # -- calls --------------------------------------------------------------------------------
    def add_call(self, call_id: str, program_id: str, hints: SchedHints, now: float, *,
                 num_prompt_tokens: int = 0, num_new_tokens: int = 0, prefill_time: float = 0.0) -> CallState:
        """Register an arriving call; its program's pin (if any) ends: the next call has come."""
        program = self.programs.get(program_id)
        if program is None:
            arrival = hints.program_arrival if hints.program_arrival <= now else now
            program = self.programs[program_id] = ProgramState(program_id, arrival)
        program.service = max(program.service, hints.program_service)
        program.num_calls += 1
        call = CallState(call_id=call_id, program_id=program_id, arrival=now,
                         program_arrival=program.arrival, program_service=program.service,
                         priority=hints.priority, num_prompt_tokens=num_prompt_tokens,
                         num_new_tokens=num_new_tokens, prefill_time=prefill_time,
                         gap_samples=hints.gap_samples)
        self.policy.on_arrival(call, program, now)
        self.calls[call_id] = call
        return call

    def remove_call(self, call_id: str) -> None:
        self.calls.pop(call_id, None)

    def sort_key(self, call: CallState) -> tuple:
        return self.policy.sort_key(call, self.programs[call.program_id], call.program_id in self.pins)

    def order_waiting(self, waiting: Sequence[CallState], now: float) -> list[CallState]:
        """Apply anti-starvation, then return the waiting calls in the order to admit them."""
        self.policy.promote_starved(waiting, self.programs, now)
        return sorted(waiting, key=self.sort_key)

    def pick_victim(self, running: Sequence[CallState]) -> CallState | None:
        """The running call to preempt when memory runs out: the one that sorts last."""
        return max(running, key=self.sort_key) if running else None

    def can_preempt(self, candidate: CallState, victim: CallState) -> bool:
        return self.policy.can_preempt_for(candidate, victim, self.programs, set(self.pins))

    def on_iteration(self, scheduled: Sequence[CallState], waiting: Sequence[CallState], duration: float) -> None:
        self.policy.on_iteration(scheduled, waiting, self.programs, duration)

    # -- pins ---------------------------------------------------------------------------------
    def on_call_finished(self, call: CallState, now: float, *, num_blocks: int, total_blocks: int,
                         free_blocks: int, wanted_blocks: int, reprefill_time: float,
                         queue_delay: float = 0.0) -> float:
        """Decide the pin TTL for the program of a finished call and record the pin.

        Returns the TTL in seconds (0: no pin). The engine holds the blocks; the scheduler
        tracks when the pin ends."""
        self.remove_call(call.call_id)
        if not self.policy.pins or num_blocks <= 0 or total_blocks <= 0:
            return 0.0
        demand = wanted_blocks / max(free_blocks, 1)
        query = PinQuery(program_id=call.program_id, num_blocks=num_blocks,
                         benefit=reprefill_time + queue_delay, kv_share=num_blocks / total_blocks,
                         demand=demand, gap_samples=call.gap_samples)
        ttl = self.policy.pin_ttl(query)
        if ttl > 0:
            program = self.programs[call.program_id]
            self.pins[call.program_id] = PinState(call.program_id, num_blocks, now, now + ttl,
                                                  program.arrival, program.service, call.priority)
        return ttl

    def update_pin(self, program_id: str, gap_samples: tuple[float, ...], now: float, *,
                   total_blocks: int, free_blocks: int, wanted_blocks: int, reprefill_time: float) -> float | None:
        """The tool now running is known: re-decide an existing pin's TTL from its start.
        Returns the new TTL (0 releases it), or None when the program holds no pin."""
        pin = self.pins.get(program_id)
        if pin is None:
            return None
        query = PinQuery(program_id=program_id, num_blocks=pin.num_blocks, benefit=reprefill_time,
                         kv_share=pin.num_blocks / max(total_blocks, 1),
                         demand=wanted_blocks / max(free_blocks, 1), gap_samples=gap_samples)
        ttl = self.policy.pin_ttl(query)
        if ttl <= 0:
            del self.pins[program_id]
        else:
            pin.expires_at = pin.start + ttl
        return ttl

    def expire_pins(self, now: float) -> list[str]:
        """Drop expired pins; returns their program ids (the engine unpins their blocks)."""
        gone = [pid for pid, pin in self.pins.items() if pin.expired(now)]
        for pid in gone:
            del self.pins[pid]
        return gone

    def pins_to_release(self, blocks_needed: int) -> list[str]:
        """Pins to drop, in the policy's order, until `blocks_needed` blocks are freed."""
        out: list[str] = []
        freed = 0
        for pin in sorted(self.pins.values(), key=self.policy.pin_release_key):
            if freed >= blocks_needed:
                break
            out.append(pin.program_id)
            freed += pin.num_blocks
        for pid in out:
            del self.pins[pid]
        return out

    def release_pin(self, program_id: str) -> bool:
        """End a program's pin (its next call arrived). True if it had one."""
        return self.pins.pop(program_id, None) is not None

    def release_program(self, program_id: str) -> bool:
        """The program ended: forget it. True if it held a pin."""
        self.programs.pop(program_id, None)
        return self.pins.pop(program_id, None) is not None
