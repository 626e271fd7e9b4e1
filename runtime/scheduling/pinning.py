"""Tool-aware KV pinning: the TTL decision (pure) and the table of live pins.

TTL (Continuum's cost/benefit, as implemented by `choose_ttl`): when a call finishes, its program
will send its next call after a gap G (a tool call, mostly). Pinning the program's KV for tau
seconds saves B seconds if G <= tau (no re-prefill of the cached context, no requeueing) and costs
c * tau seconds of GPU time whatever happens. With the empirical distribution F of G from the
samples s_1 <= ... <= s_n, choose

    tau* = argmax over tau in {0} U {s_i <= max_ttl} of  F(tau) * B - c * tau,   value(0) = 0,

ties to the smaller tau. Only the sample points are candidates: between two of them F is flat and
the cost grows, so the optimum sits on one. With no samples, tau* = 0.

Cost rate (`cost_rate`): c = kv_share * f(demand), f(d) = idle_cost + min(d, max_demand), where
kv_share is the pin's fraction of the KV cache and d = (blocks wanted by waiting calls) / (free
blocks). Holding a fraction s of the memory while it is needed takes about s of the engine's
batch capacity, i.e. s GPU-seconds per second, so c * tau and B are both seconds of GPU time.
When nothing waits (d = 0) holding costs only idle_cost * s (nearly free); when waiting calls want
more than the free memory (d > 1) it costs more than the pin's share. Alternatives considered: a
fixed TTL (vLLM-style prefix caching has none; Continuum's paper argues against a constant), and a
cost without demand (pins would crowd out running calls at high load).

Pins end at the first of: the program's next call is admitted, the program ends, the TTL expires,
or the policy releases them under memory pressure (`ProgramScheduler.pins_to_release`).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

SortKey = tuple[Any, ...]  # a policy's sort key: the lower key runs (or is released) first


def cost_rate(kv_share: float, demand: float, *, idle_cost: float = 0.01, max_demand: float = 10.0) -> float:
    """c = kv_share * (idle_cost + min(demand, max_demand)): GPU-seconds per second of holding."""
    if not math.isfinite(demand) or demand < 0:
        demand = max_demand if demand > 0 else 0.0
    return max(kv_share, 0.0) * (idle_cost + min(demand, max_demand))


def choose_ttl(gap_samples: Iterable[float], benefit: float, cost_rate: float, max_ttl: float) -> float:
    """The TTL maximizing P(gap <= tau) * benefit - cost_rate * tau (see the module docstring).

    Non-finite or negative samples are ignored. Returns 0.0 (do not pin) when no candidate has a
    positive value. Runs at every call's finish and tool hint, over windows of up to hundreds of
    samples, so a run of equal samples is one candidate (bisect) and the scan stops once even
    P = 1 could not beat the best value (the cost only grows with tau)."""
    if not benefit > 0:
        return 0.0
    xs, num_valid = _sorted_valid(gap_samples)
    if xs and xs[-1] > max_ttl:
        xs = xs[:bisect_right(xs, max_ttl)]
    if not xs:
        return 0.0
    best_tau, best_value = 0.0, 0.0
    i = 0
    while i < len(xs):
        tau = xs[i]
        if cost_rate >= 0 and benefit - cost_rate * tau <= best_value:
            break
        # F jumps past all equal samples at once: i becomes the count of samples <= tau
        i = bisect_right(xs, tau, i + 1) if i + 1 < len(xs) and xs[i + 1] == tau else i + 1
        value = i / num_valid * benefit - cost_rate * tau
        if value > best_value:
            best_tau, best_value = tau, value
    return best_tau


def _sorted_valid(samples: Iterable[float]) -> tuple[list[float], int]:
    """The finite, non-negative samples, sorted, and how many there are. The common all-valid case
    costs a sort and a sum in C: a finite sum has no NaN or infinity in it, and then the sorted
    list's first element is its minimum."""
    samples = samples if isinstance(samples, (tuple, list)) else list(samples)
    xs = sorted(samples)
    if xs and not (math.isfinite(sum(samples)) and xs[0] >= 0):
        xs = sorted([x for x in samples if math.isfinite(x) and x >= 0])
    return xs, len(xs)


@dataclass(slots=True, frozen=True)
class PinQuery:
    """Inputs of the TTL decision when a call finishes (all times in seconds).

    benefit: what a hit saves: re-prefill of the program's cached context from the engine's cost
        model plus the queueing the next call would see.
    kv_share: fraction of the KV cache the pin would hold.
    demand: memory pressure in [0, inf): (blocks wanted by waiting calls) / (free blocks), 0 when idle.
    """

    program_id: str
    num_blocks: int
    benefit: float
    kv_share: float
    demand: float
    gap_samples: tuple[float, ...]


@dataclass(slots=True)
class PinState:
    """A live pin: the program's `num_blocks` KV blocks are held until `expires_at`."""

    program_id: str
    num_blocks: int
    start: float
    expires_at: float
    program_arrival: float
    program_service: float
    priority: float


class PinTable:
    """Live pins by program, with an expiry heap so that `expire(now)` costs O(expired * log)."""

    def __init__(self) -> None:
        self.pins: dict[str, PinState] = {}
        self.num_blocks = 0
        self._heap: list[tuple[float, int, str]] = []
        self._version: dict[str, int] = {}
        self._counter = 0

    def __contains__(self, program_id: object) -> bool:
        return program_id in self.pins

    def __len__(self) -> int:
        return len(self.pins)

    def get(self, program_id: str) -> PinState | None:
        return self.pins.get(program_id)

    def add(self, pin: PinState) -> None:
        """Record (or replace) a program's pin."""
        self.pop(pin.program_id)
        self.pins[pin.program_id] = pin
        self.num_blocks += pin.num_blocks
        self._push(pin)

    def set_expiry(self, program_id: str, expires_at: float) -> None:
        pin = self.pins[program_id]
        pin.expires_at = expires_at
        self._push(pin)

    def pop(self, program_id: str) -> PinState | None:
        pin = self.pins.pop(program_id, None)
        if pin is not None:
            self.num_blocks -= pin.num_blocks
            self._version.pop(program_id, None)
        return pin

    def expire(self, now: float) -> list[str]:
        """Remove the pins whose TTL has run out at `now`; returns their program ids."""
        gone: list[str] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, version, pid = heapq.heappop(heap)
            if self._version.get(pid) == version:
                self.pop(pid)
                gone.append(pid)
        return gone

    def next_expiry(self) -> float:
        """When the next live pin expires (inf: none)."""
        heap = self._heap
        while heap and self._version.get(heap[0][2]) != heap[0][1]:
            heapq.heappop(heap)  # stale: replaced, re-timed or released
        return heap[0][0] if heap else math.inf

    def release_order(self, key: Callable[[PinState], SortKey]) -> list[PinState]:
        return sorted(self.pins.values(), key=key)

    def _push(self, pin: PinState) -> None:
        self._counter += 1
        self._version[pin.program_id] = self._counter
        heapq.heappush(self._heap, (pin.expires_at, self._counter, pin.program_id))
