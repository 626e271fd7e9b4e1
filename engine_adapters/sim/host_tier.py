"""`HostKVTier`: programs' KV contexts kept in host memory, so that one evicted from the GPU during
a tool call (or preempted) is copied back over PCIe instead of prefilled again.

The model is vLLM's CPU KV offloading (`--kv-offloading-size`, the OffloadingConnector) and
InferCept's swap of an intercepted request's context: every computed block is also written to a
host buffer (write-through, on a copy stream beside the compute, so it costs no iteration time);
when a call is admitted and the GPU prefix cache no longer holds its program's context, the part
the host holds is loaded back at the profile's PCIe bandwidth (`CostModel.swap_time`, charged to
the iteration that admits it) and only the rest is prefilled. The buffer is finite: programs are
kept whole, least recently stored first out.

What decides keep / swap / drop: keep (a GPU pin) is the policy's TTL decision, which weighs the
predicted tool time against the cost of getting the context back; with the tier that cost is the
cheaper of the PCIe load and the re-prefill (`SimEngine` hands the driver that reload time), so a
program whose context is on the host is pinned for less, and its GPU blocks serve the others.
Swap is write-through, so it needs no decision; drop is what LRU does when the buffer is full.

Alternatives considered: swap out only at eviction (vLLM v0's swap space; the copy then sits on
the critical path of the allocation that evicts) and a per-block LRU (finer, but a program's
context is only useful from its first block on, so a program is the unit that is kept or lost).
"""

from __future__ import annotations

from collections import OrderedDict


class HostKVTier:
    """Per program, the chained hashes of the full context blocks held in host memory (LRU)."""

    def __init__(self, capacity_blocks: int) -> None:
        """`capacity_blocks`: host buffer size in KV blocks (> 0). Raises ValueError otherwise."""
        if capacity_blocks <= 0:
            raise ValueError(f"capacity_blocks must be > 0, got {capacity_blocks}")
        self.capacity_blocks = capacity_blocks
        self.num_blocks = 0  # held now
        self.num_dropped_programs = 0  # contexts dropped to make room (LRU)
        self._contexts: OrderedDict[str, list[int]] = OrderedDict()

    def store(self, program_id: str, hashes: list[int]) -> None:
        """The program's context is now `hashes` (its full blocks): replace what it held and make
        room by dropping the least recently stored programs. A context larger than the whole
        buffer is not kept."""
        self.drop(program_id)
        if len(hashes) > self.capacity_blocks or not hashes:
            return
        while self.num_blocks + len(hashes) > self.capacity_blocks:
            _, old = self._contexts.popitem(last=False)
            self.num_blocks -= len(old)
            self.num_dropped_programs += 1
        self._contexts[program_id] = hashes
        self.num_blocks += len(hashes)

    def num_hit_blocks(self, program_id: str, hashes: list[int], max_blocks: int) -> int:
        """How many leading blocks of `hashes` (at most `max_blocks`) the host holds for the program."""
        held = self._contexts.get(program_id)
        if held is None:
            return 0
        n = min(len(held), len(hashes), max_blocks)
        if held[:n] == hashes[:n]:
            return n
        return next(i for i in range(n) if held[i] != hashes[i])

    def holds(self, program_id: str) -> bool:
        return program_id in self._contexts

    def drop(self, program_id: str) -> None:
        """Forget the program's context (it ended, or is being replaced)."""
        old = self._contexts.pop(program_id, None)
        if old is not None:
            self.num_blocks -= len(old)
