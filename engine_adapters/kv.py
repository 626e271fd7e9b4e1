"""`KVBlocks`: what the shared engine driver needs from an engine's KV cache, and no more.

Blocks are opaque (`Any`): block ids in the simulator, vLLM `KVCacheBlock`s in the plugin; so is
a prompt (the engine's own request: a `SimSequence`, a vLLM `Request`), which only the engine's
prefix lookup reads. A pin
keeps a finished call's full blocks cached for its program until the driver unpins them; how it
does so is the engine's (the simulator hands the call's references to the pin, the plugin takes
one more reference on each block, so that vLLM's pool cannot evict it). The other engine input
the driver needs, a prefill-time estimate, is a plain function (`PrefillTime`).
"""

from __future__ import annotations

from typing import Any, Protocol


class KVBlocks(Protocol):
    """The KV cache as the driver sees it."""

    @property
    def num_blocks(self) -> int:
        """Usable blocks in all."""
        ...

    @property
    def block_size(self) -> int:
        """Tokens a block holds."""
        ...

    @property
    def num_free(self) -> int:
        """Blocks that can be allocated now (free, possibly still cached)."""
        ...

    def blocks_for(self, num_tokens: int) -> int:
        """Blocks that `num_tokens` tokens occupy."""
        ...

    def pin(self, program_id: str, blocks: list[Any]) -> None:
        """Keep a finished call's `blocks` cached for `program_id`, replacing its previous pin."""
        ...

    def unpin(self, program_id: str) -> int:
        """End the program's pin; its blocks stay in the prefix cache, evictable. Returns how many
        blocks it held (0: none)."""
        ...

    def prefix_hit_tokens(self, prompt: Any) -> int:
        """Tokens at the start of `prompt` whose KV the prefix cache holds now: whole blocks, never
        the prompt's last token (its logits are computed). A lookup: nothing is allocated."""
        ...

    def free(self, blocks: list[Any]) -> None:
        """A finished call's references on `blocks` are dropped (no-op where the engine drops them
        itself)."""
        ...


def chunk_pairs(num_computed: int, num_new: int) -> int:
    """Attention (query-key) pairs of computing `num_new` tokens after `num_computed` (causal):
    what a prefill continuing a cached context pays on top of its tokens, on every engine."""
    return num_new * num_computed + num_new * (num_new + 1) // 2


class PrefillTime(Protocol):
    def __call__(self, num_tokens: int, num_cached_tokens: int = 0, /) -> float:
        """Estimated seconds to prefill `num_tokens` tokens of which `num_cached_tokens` are cached."""
        ...
