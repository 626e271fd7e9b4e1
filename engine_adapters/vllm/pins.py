"""`PinnedBlocks`: the KV block references the plugin holds for programs between their calls.

A pin is one extra reference on each full (hashed) block of a finished call. vLLM's block pool
only evicts blocks whose reference count is 0 (they sit in its free queue), so a pinned block
stays cached whatever the memory pressure; unpinning drops the reference and the blocks join the
free queue's LRU tail as ordinary cached blocks (evicted last among the free ones, as vLLM frees).

When the program's next call arrives, the ProgramScheduler ends the pin; the blocks are then
"handed off" to that request and kept until it has been admitted (its prefix lookup has taken
its own references) or has ended, so the next call is sure to hit them. Alternative considered:
unpin at arrival, as the simulator does: on vLLM the arrival can precede admission by many steps
under contention, and the pin would then protect nothing.
"""

from __future__ import annotations

from typing import Any


class PinnedBlocks:
    """Block lists per pinned program and per handed-off request, over one vLLM `BlockPool`."""

    def __init__(self, block_pool: Any) -> None:
        self.pool = block_pool
        self.program_to_blocks: dict[str, list[Any]] = {}
        self.request_to_blocks: dict[str, list[Any]] = {}

    @property
    def num_blocks(self) -> int:
        return sum(map(len, self.program_to_blocks.values())) + sum(map(len, self.request_to_blocks.values()))

    def pin(self, program_id: str, blocks: list[Any]) -> None:
        """Take a reference on `blocks` for `program_id`, replacing its previous pin."""
        self.unpin(program_id)
        self.pool.touch(blocks)
        self.program_to_blocks[program_id] = blocks

    def unpin(self, program_id: str) -> int:
        """Drop the program's pin; returns the number of blocks released."""
        return self._free(self.program_to_blocks.pop(program_id, None))

    def hand_off(self, program_id: str, request_id: str) -> None:
        """The program's next call (`request_id`) arrived: keep its blocks until it is admitted."""
        blocks = self.program_to_blocks.pop(program_id, None)
        if blocks:
            self.request_to_blocks[request_id] = blocks

    def end_hand_off(self, request_id: str) -> int:
        return self._free(self.request_to_blocks.pop(request_id, None))

    def clear(self) -> None:
        for program_id in list(self.program_to_blocks):
            self.unpin(program_id)
        for request_id in list(self.request_to_blocks):
            self.end_hand_off(request_id)

    def _free(self, blocks: list[Any] | None) -> int:
        if not blocks:
            return 0
        self.pool.free_blocks(reversed(blocks))  # the tail of a context is evicted first, as vLLM
        return len(blocks)
