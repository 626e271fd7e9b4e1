"""`PinnedBlocks`: vLLM's KV cache as the shared engine driver sees it (a `KVBlocks`), with the
block references the plugin holds for programs between their calls.

A pin is one extra reference on each full (hashed) block of a finished call. vLLM's block pool
only evicts blocks whose reference count is 0 (they sit in its free queue), so a pinned block
stays cached whatever the memory pressure; unpinning drops the reference and the blocks join the
free queue's LRU tail as ordinary cached blocks (evicted last among the free ones, as vLLM frees).
The pin lasts until the program's next call is admitted (its prefix lookup has then taken its own
references), as on every engine (engine_adapters/driver.py).
"""

from __future__ import annotations

from typing import Any


class PinnedBlocks:
    """Block lists per pinned program, over one vLLM `BlockPool`."""

    def __init__(self, block_pool: Any, block_size: int, num_blocks: int) -> None:
        self.pool, self.block_size, self._num_blocks = block_pool, block_size, num_blocks
        self.program_to_blocks: dict[str, list[Any]] = {}

    @property
    def num_blocks(self) -> int:
        return self._num_blocks

    @property
    def num_free(self) -> int:
        return int(self.pool.get_num_free_blocks())

    @property
    def num_pinned_blocks(self) -> int:
        return sum(map(len, self.program_to_blocks.values()))

    def blocks_for(self, num_tokens: int) -> int:
        return -(-num_tokens // self.block_size)

    def pin(self, program_id: str, blocks: list[Any]) -> None:
        """Take a reference on `blocks` for `program_id`, replacing its previous pin."""
        self.unpin(program_id)
        self.pool.touch(blocks)
        self.program_to_blocks[program_id] = blocks

    def unpin(self, program_id: str) -> int:
        """Drop the program's pin; returns the number of blocks released."""
        blocks = self.program_to_blocks.pop(program_id, None)
        if not blocks:
            return 0
        self.pool.free_blocks(reversed(blocks))  # the tail of a context is evicted first, as vLLM
        return len(blocks)

    def cached_prefix(self, request: Any) -> list[Any]:
        """The blocks of the request's prompt prefix in the prefix cache (a lookup: no reference
        taken), never the block holding the prompt's last token."""
        hit: list[Any] = []
        for block_hash in request.block_hashes[:(request.num_prompt_tokens - 1) // self.block_size]:
            blocks = self.pool.get_cached_block(block_hash, [0])
            if blocks is None:
                break
            hit.append(blocks[0])
        return hit

    def prefix_hit_tokens(self, request: Any) -> int:
        return len(self.cached_prefix(request)) * self.block_size

    def free(self, blocks: list[Any]) -> None:
        """No-op: vLLM drops a finished request's own references itself (`_free_request`)."""

    def clear(self) -> None:
        for program_id in list(self.program_to_blocks):
            self.unpin(program_id)
