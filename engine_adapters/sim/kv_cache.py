"""`KVCache`: a paged KV cache with prefix caching, LRU eviction and pins (vLLM v1 semantics).

- A block holds `block_size` tokens and a reference count (running sequences and pins using it).
- A full block that has been computed is registered under its chained hash (`Tokens.block_hashes`);
  a later sequence whose prompt has the same hash prefix reuses it (a prefix hit).
- Blocks whose count drops to 0 join the free queue but keep their contents and hash, so they can
  still hit; allocation takes the least recently freed block and evicts its hash. A sequence frees
  its blocks tail first, so the end of a context is evicted before its beginning (as vLLM).
- A pin holds a finished call's block references for its program until released: pinned blocks are
  never in the free queue, hence never evicted.

Representation, chosen for a thrashing replay (millions of blocks allocated, registered, evicted
and freed; every per-block operation is CPython work):
- `_state[b]`: the reference count when >= 1; when the block is free, -(1 + id of the free-queue
  chunk holding its live entry).
- The free queue stands in for vLLM's intrusive doubly linked list: a FIFO of chunks, one per
  `free()` call (its blocks, tail first), consumed from the oldest. A block that leaves the queue
  early (a hit) is not searched for: its state changes and its stale entry is skipped when reached.
  Alternative considered: an `OrderedDict` (O(1) removal, but ~300 ns per block to pop and
  re-insert, the largest cost of a replay).
- The prefix index maps a hash to the block last registered under it and is validated on lookup
  (`_hash[b] == h`): eviction only clears `_hash[b]`, and stale entries are purged when the index
  outgrows the cache. Alternative considered: deleting index entries on eviction (exact, but one
  more dict operation per evicted block).
A watched lookup (`lookup_watched`) remembers its answer for one sequence, typically the head of
the waiting queue that does not fit yet and is retried every iteration. It stays valid until a
block of its hit prefix is hit, evicted or freed (one `isdisjoint` per bulk operation) or the next
block of the prefix gets cached.
"""

from __future__ import annotations

from collections import deque
from itertools import compress
from operator import eq

_LOOKUP_CHUNK = 64  # blocks probed per step of a lookup


class KVCache:
    """Blocks, the prefix-cache index and the pins. Raises nothing: callers check `num_free` first."""

    __slots__ = ("num_blocks", "block_size", "_state", "_hash", "_hash_to_block", "_queue", "_num_chunks",
                 "_num_free", "_pins", "num_pinned_blocks", "num_evicted_blocks", "_watch", "_watch_key",
                 "_watch_answer", "_watch_valid")

    def __init__(self, num_blocks: int, block_size: int) -> None:
        self.num_blocks, self.block_size = num_blocks, block_size
        self._state = [-1] * num_blocks  # all free, in chunk 0
        self._hash: list[int | None] = [None] * num_blocks
        self._hash_to_block: dict[int, int] = {}
        self._queue: deque[list] = deque([[-1, list(range(num_blocks)), 0]])  # [state tag, blocks, consumed]
        self._num_chunks = 1
        self._num_free = num_blocks
        self._pins: dict[str, list[int]] = {}
        self.num_pinned_blocks = 0  # blocks held by pins (a block shared by two pins counts twice)
        self.num_evicted_blocks = 0
        self._watch: set[int] = set()  # blocks of the watched hit prefix
        self._watch_key: object = None
        self._watch_answer: tuple[list[int], int, int] = ([], 0, 0)  # hit, evictable, max_blocks
        self._watch_valid = False

    # -- capacity -------------------------------------------------------------------------------
    @property
    def num_free(self) -> int:
        """Blocks that can be allocated now (free, possibly still cached)."""
        return self._num_free

    @property
    def num_used(self) -> int:
        return self.num_blocks - self._num_free

    def blocks_for(self, num_tokens: int) -> int:
        return -(-num_tokens // self.block_size)

    # -- prefix cache ---------------------------------------------------------------------------
    def lookup(self, hashes: list[int], max_blocks: int) -> tuple[list[int], int]:
        """The cached blocks of the longest hit prefix (at most `max_blocks`), and how many of them
        are in the free queue (they stop being allocatable once used)."""
        get, block_hash = self._hash_to_block.get, self._hash
        hit: list[int] = []
        for start in range(0, max_blocks, _LOOKUP_CHUNK):  # map() in chunks: C speed, bounded waste
            part = hashes[start:min(start + _LOOKUP_CHUNK, max_blocks)]
            found = list(map(get, part))
            if None in found:
                del found[found.index(None):]
            valid = list(map(eq, map(block_hash.__getitem__, found), part))
            if False in valid:
                del found[valid.index(False):]
            hit += found
            if len(found) < len(part):
                break
        return hit, sum(map((0).__gt__, map(self._state.__getitem__, hit)))

    def lookup_watched(self, key: object, hashes: list[int], max_blocks: int) -> tuple[list[int], int]:
        """`lookup`, answered from memory when nothing it depends on changed since the last
        watched lookup for the same `key` (one key is watched at a time)."""
        hit, evictable, watched_max = self._watch_answer
        if (self._watch_valid and self._watch_key is key and watched_max == max_blocks
                and (len(hit) == max_blocks or not self.is_cached(hashes[len(hit)]))):
            return hit, evictable
        hit, evictable = self.lookup(hashes, max_blocks)
        self._watch, self._watch_key, self._watch_valid = set(hit), key, True
        self._watch_answer = (hit, evictable, max_blocks)
        return hit, evictable

    def unwatch(self) -> None:
        self._watch, self._watch_key, self._watch_valid = set(), None, False

    def is_cached(self, block_hash: int) -> bool:
        b = self._hash_to_block.get(block_hash)
        return b is not None and self._hash[b] == block_hash

    def register(self, block_ids: list[int], hashes: list[int], start: int, end: int) -> None:
        """Index blocks [start, end) of a sequence, now full and computed, under their hashes (the
        newest block wins when the same content was computed twice)."""
        block_hash = self._hash
        new = hashes[start:end]
        for b, h in zip(block_ids[start:end], new):
            block_hash[b] = h
        index = self._hash_to_block
        index.update(zip(new, block_ids[start:end]))
        if len(index) > 2 * self.num_blocks + 1024:
            self._hash_to_block = {h: b for h, b in index.items() if block_hash[b] == h}

    # -- references -----------------------------------------------------------------------------
    def touch(self, block_ids: list[int]) -> None:
        """Take a reference on cached blocks (a hit)."""
        self._changed(block_ids)
        state = self._state
        for b in block_ids:
            s = state[b]
            if s < 0:
                state[b] = 1
                self._num_free -= 1
            else:
                state[b] = s + 1

    def allocate(self, num_blocks: int) -> list[int]:
        """Take `num_blocks` blocks from the free queue, least recently freed first, evicting their
        cached contents. The caller has checked `num_free`."""
        out = self._pop_free(num_blocks)
        self._changed(out)
        state, block_hash = self._state, self._hash
        num_evicted = num_blocks - list(map(block_hash.__getitem__, out)).count(None)
        for b in out:
            state[b] = 1
        if num_evicted:
            for b in out:
                block_hash[b] = None
            self.num_evicted_blocks += num_evicted
        self._num_free -= num_blocks
        return out

    def free(self, block_ids: list[int]) -> None:
        """Drop one reference on each block; unreferenced ones join the free queue, tail first."""
        self._changed(block_ids)
        state = self._state
        tag = -1 - self._num_chunks
        if list(map(state.__getitem__, block_ids)).count(1) == len(block_ids):  # the common case
            for b in block_ids:
                state[b] = tag
            unreferenced = block_ids[::-1]
        else:
            unreferenced = []
            for b in reversed(block_ids):
                s = state[b] - 1
                if s:
                    state[b] = s
                else:
                    state[b] = tag
                    unreferenced.append(b)
        if unreferenced:
            self._num_chunks += 1
            self._queue.append([tag, unreferenced, 0])
            self._num_free += len(unreferenced)

    def _pop_free(self, num_blocks: int) -> list[int]:
        """The `num_blocks` oldest live entries of the free queue, skipping stale ones."""
        out: list[int] = []
        queue, state = self._queue, self._state
        need = num_blocks
        while need > 0:
            entry = queue[0]
            tag, blocks, pos = entry
            while need > 0 and pos < len(blocks):
                part = blocks[pos:pos + need]
                pos += len(part)
                live = list(compress(part, map(tag.__eq__, map(state.__getitem__, part))))
                out += live
                need -= len(live)
            if pos >= len(blocks):
                queue.popleft()
            else:
                entry[2] = pos
        return out

    def _changed(self, block_ids: list[int]) -> None:
        if self._watch_valid and not self._watch.isdisjoint(block_ids):
            self._watch_valid = False

    # -- pins -----------------------------------------------------------------------------------
    def pin(self, program_id: str, block_ids: list[int]) -> None:
        """Hand a finished sequence's block references to its program's pin (replacing a pin the
        program already held)."""
        self.unpin(program_id)
        self._pins[program_id] = block_ids
        self.num_pinned_blocks += len(block_ids)

    def unpin(self, program_id: str) -> int:
        """Release a program's pin; returns how many blocks it held (0: none)."""
        block_ids = self._pins.pop(program_id, None)
        if block_ids is None:
            return 0
        self.num_pinned_blocks -= len(block_ids)
        self.free(block_ids)
        return len(block_ids)

    def pinned_programs(self) -> list[str]:
        return list(self._pins)
