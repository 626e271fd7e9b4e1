"""`KVCache`: a paged KV cache with prefix caching, LRU eviction and pins (vLLM v1 semantics).

- A block holds `block_size` tokens and a reference count (running sequences and pins using it).
- A full block that has been computed is registered under its chained hash (`Tokens.block_hashes`);
  a later sequence whose prompt has the same hash prefix reuses it (a prefix hit).
- Blocks whose count drops to 0 join the free queue but keep their contents and hash, so they can
  still hit; allocation takes the block at the head of the queue and evicts its hash. A sequence
  frees its blocks tail first, so the end of a context is evicted before its beginning. As vLLM
  0.32's `BlockPool.free_blocks`, a freed block that is not in the prefix index (a partial last
  block, blocks allocated but not computed) can never hit: it goes to the head of the queue, to be
  reused first, and the indexed ones go to its tail (least recently freed evicted first). Until
  session 7 every freed block went to the tail, so each freed call's partial block stood in the
  queue where a cached block of another context was evicted in its place.
  A sequence's blocks outside the index are the tail of its block list (the index holds its
  leading full computed blocks), so `free` moves the leading run of them in its tail-first list.
  A block computed with content another block already holds is not indexed here (`register`
  keeps the first); vLLM indexes both. Inside a context it goes to the tail with its neighbours,
  as vLLM's; at the end of one it goes to the head.
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
- The prefix index maps a hash to its block, and `_hash[b]` is the hash block b is indexed under
  (None: not indexed); both change together, at registration and at eviction. Alternative
  considered: clearing only `_hash[b]` at eviction and validating index entries on lookup (one
  dict operation less per eviction, but purging the stale entries costs more than it saves).
- Per-block work is plain loops and comprehensions: CPython 3.11 specializes their list and dict
  subscripts, which makes them 1.5-2.5x faster than `map()` over bound methods such as
  `list.__setitem__` or `dict.__delitem__` (measured on a replay).
A watched lookup (`lookup_watched`) keeps its answer for one sequence, typically the head of the
waiting queue that does not fit yet and is retried every iteration, and maintains it as blocks
change: an eviction inside the hit prefix cuts it there, a hit or a free of one of its blocks
updates the count of its evictable blocks (one set intersection per bulk operation), and a newly
cached next block extends it. A retry then costs O(1) instead of a walk over the prefix.
"""

from __future__ import annotations

from collections import deque
from itertools import compress, count
from operator import ne
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentrt.engine_adapters.sim.sequence import SimSequence

_LOOKUP_CHUNK = 64  # blocks probed by the first step of a lookup (then doubling)


class KVCache:
    """Blocks, the prefix-cache index and the pins. Raises nothing: callers check `num_free` first."""

    __slots__ = ("num_blocks", "block_size", "_state", "_hash", "_hash_to_block", "_queue", "_num_chunks",
                 "_num_free", "_pins", "num_pinned_blocks", "num_evicted_blocks", "_watch_key", "_watch_hit",
                 "_watch_pos", "_watch_max", "_watch_evictable", "_contexts")

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
        self._watch_key: object = None  # None: nothing watched
        self._watch_hit: list[int] = []
        self._watch_pos: dict[int, int] | None = None  # block -> its index in the hit prefix (None: not built)
        self._watch_max = 0
        self._watch_evictable: int | None = None  # None: not computed yet
        self._contexts: dict[str, tuple[list[int], list[int] | None]] = {}  # see `remember_context`

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
    def lookup(self, hashes: list[int], max_blocks: int, guess: list[int] | None = None,
               guess_hashes: list[int] | None = None) -> list[int]:
        """The cached blocks of the longest hit prefix (at most `max_blocks` blocks). `guess`:
        blocks that may hold it (the program's previous call's), confirmed first by their
        registered hashes, a list read each instead of a probe of the index (the index's table
        and keys are scattered over memory: most of a lookup's cost). `guess_hashes`: what the
        guess's leading blocks are registered under, when the caller knows it (they are pinned
        and the rest is unregistered); the confirmation is then a comparison of two lists."""
        index = self._hash_to_block
        hit = self._still_registered(hashes, guess, max_blocks, guess_hashes) if guess else []
        start, size = len(hit), _LOOKUP_CHUNK
        while start < max_blocks:  # growing chunks: bounded waste on a miss
            chunk = hashes[start:min(start + size, max_blocks)]
            try:
                hit += [index[h] for h in chunk]
            except KeyError:  # the chunk holds the first miss
                found: list = list(map(index.get, chunk))
                hit += found[:found.index(None)]
                break
            start, size = start + size, 2 * size
        return hit

    def _still_registered(self, hashes: list[int], guess: list[int], max_blocks: int,
                          known: list[int] | None = None) -> list[int]:
        """The longest prefix of `guess` (at most `max_blocks`) whose blocks are registered under
        `hashes` (a block registered under h is the index's block for h), in growing chunks."""
        block_hash = self._hash
        end = min(len(guess), max_blocks) if known is None else min(len(guess), max_blocks, len(known))
        start, size = 0, _LOOKUP_CHUNK
        while start < end:
            stop = min(start + size, end)
            registered = known[start:stop] if known is not None else [block_hash[b] for b in guess[start:stop]]
            if registered != hashes[start:stop]:
                return guess[:start + next(compress(count(), map(ne, registered, hashes[start:stop])))]
            start, size = stop, 2 * size
        return guess[:end]

    def prefix_hit_tokens(self, seq: SimSequence) -> int:
        """`KVBlocks`: tokens of an arriving sequence's prompt that the prefix cache holds (whole
        blocks, never its last token). Watched when no other lookup is, so that admitting it next
        costs O(1)."""
        guess, known = self.context_guess(seq.program_id)
        max_blocks = (seq.num_tokens - 1) // self.block_size
        if self._watch_key is not None:
            return len(self.lookup(seq.hashes, max_blocks, guess, known)) * self.block_size
        return len(self.lookup_watched(seq, seq.hashes, max_blocks, guess, known)) * self.block_size

    def remember_context(self, program_id: str, block_ids: list[int], hashes: list[int] | None) -> None:
        """A program's finished call left `block_ids`, registered under `hashes` (None: not all of
        them under their own): where its next prompt most likely hits."""
        self._contexts[program_id] = (block_ids, hashes)

    def forget_context(self, program_id: str) -> None:
        self._contexts.pop(program_id, None)

    def context_guess(self, program_id: str) -> tuple[list[int] | None, list[int] | None]:
        """`lookup`'s `guess` and `guess_hashes` for the program's next prompt: its last finished
        call's blocks and, while its pin still holds exactly those, the hashes they are
        registered under (pinned blocks are never evicted, so the lookup need not read them)."""
        blocks, hashes = self._contexts.get(program_id, (None, None))
        if blocks is None or self._pins.get(program_id) is not blocks:
            return blocks, None
        return blocks, hashes

    def num_evictable(self, block_ids: list[int]) -> int:
        """How many of these blocks are in the free queue (allocatable, though cached)."""
        state = self._state
        return len([b for b in block_ids if state[b] < 0])

    def num_exclusive(self, block_ids: list[int]) -> int:
        """How many of these blocks would become free if one reference on each were dropped."""
        state = self._state
        return [state[b] for b in block_ids].count(1)

    @property
    def watching(self) -> bool:
        """Whether a lookup is being watched (`unwatch` ends it)."""
        return self._watch_key is not None

    def lookup_watched(self, key: object, hashes: list[int], max_blocks: int,
                       guess: list[int] | None = None, guess_hashes: list[int] | None = None) -> list[int]:
        """`lookup`, kept up to date for `key` between calls (one key is watched at a time)."""
        hit = self._watch_hit
        if self._watch_key is not key or self._watch_max != max_blocks:
            hit = self.lookup(hashes, max_blocks, guess, guess_hashes)
            self._watch_key, self._watch_hit, self._watch_max = key, hit, max_blocks
            self._watch_pos = None
            self._watch_evictable = None
        elif len(hit) < max_blocks and hashes[len(hit)] in self._hash_to_block:
            more = self.lookup(hashes[len(hit):max_blocks], max_blocks - len(hit))
            if self._watch_pos is not None:
                self._watch_pos.update(zip(more, range(len(hit), len(hit) + len(more))))
            hit += more
            if self._watch_evictable is not None:
                self._watch_evictable += self.num_evictable(more)
        return hit

    def watched_evictable(self) -> int:
        """`num_evictable` of the watched hit prefix."""
        if self._watch_evictable is None:
            self._watch_evictable = self.num_evictable(self._watch_hit)
        return self._watch_evictable

    def unwatch(self) -> None:
        self._watch_key, self._watch_hit, self._watch_pos, self._watch_evictable = None, [], None, None

    def _watch_positions(self) -> dict[int, int]:
        """Block -> index in the watched hit, built at first need: a call admitted in the pass
        that looked it up (the common case) never needs it."""
        if self._watch_pos is None:
            self._watch_pos = dict(zip(self._watch_hit, range(len(self._watch_hit))))
        return self._watch_pos

    def register(self, block_ids: list[int], hashes: list[int], start: int, end: int) -> bool:
        """Index blocks [start, end) of a sequence, now full and computed, under their hashes. A
        hash already indexed (the same content computed twice) keeps its first block, and the
        new block stays unindexed: then returns False."""
        setdefault, block_hash = self._hash_to_block.setdefault, self._hash
        own = True
        for b, h in zip(block_ids[start:end], hashes[start:end]):  # one probe of the index per block
            if setdefault(h, b) == b:
                block_hash[b] = h
            else:
                own = False
        return own

    # -- references -----------------------------------------------------------------------------
    def touch(self, block_ids: list[int]) -> None:
        """Take a reference on cached blocks (a hit)."""
        if self._watch_hit and self._watch_evictable is not None:
            watched = self._watch_positions().keys() & block_ids
            if watched:  # those that were free are no longer evictable
                self._watch_evictable -= self.num_evictable(list(watched))
        state = self._state
        for b in block_ids:
            s = state[b]
            if s < 0:
                state[b] = 1
                self._num_free -= 1
            else:
                state[b] = s + 1

    def touch_pinned(self, program_id: str, block_ids: list[int]) -> None:
        """`touch` for the admitted call of a program whose pin ends right after (`unpin`): when the
        pin's leading blocks are `block_ids` (its previous context, the common case), they keep
        the pin's references instead of taking one more each, and the pin keeps only the rest, as
        if the two walks over the context (reference taken, reference dropped) had been made."""
        pinned = self._pins.get(program_id)
        if pinned is None or pinned[:len(block_ids)] != block_ids:
            self.touch(block_ids)
            return
        self._pins[program_id] = pinned[len(block_ids):]
        self.num_pinned_blocks -= len(block_ids)

    def allocate(self, num_blocks: int) -> list[int]:
        """Take `num_blocks` blocks from the free queue, least recently freed first, evicting their
        cached contents. The caller has checked `num_free`."""
        out = self._pop_free(num_blocks)
        state, block_hash, index = self._state, self._hash, self._hash_to_block
        hashes = [block_hash[b] for b in out]
        num_evicted = num_blocks - hashes.count(None)
        if num_evicted and self._watch_hit:  # a watched block is cached: only an eviction cuts the watch
            self._cut_watch(out)
        if num_evicted:
            for b, h in zip(out, hashes):
                state[b] = 1
                if h is not None:
                    del index[h]
                    block_hash[b] = None
            self.num_evicted_blocks += num_evicted
        else:
            for b in out:
                state[b] = 1
        self._num_free -= num_blocks
        return out

    def free(self, block_ids: list[int]) -> None:
        """Drop one reference on each block; unreferenced ones join the free queue, tail first: the
        leading run of them outside the prefix index at its head, the rest at its tail (module
        docstring)."""
        state = self._state
        tag = -1 - self._num_chunks
        if [state[b] for b in block_ids].count(1) == len(block_ids):  # the common case
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
            self._num_free += len(unreferenced)
            block_hash = self._hash
            if block_hash[unreferenced[0]] is None:  # the tail can never hit: reused first
                n, end = 1, len(unreferenced)
                while n < end and block_hash[unreferenced[n]] is None:
                    n += 1
                self._prepend(unreferenced[:n])
                del unreferenced[:n]
            if unreferenced:
                self._queue.append([tag, unreferenced, 0])
            if self._watch_hit and self._watch_evictable is not None:  # the watched blocks freed now
                if len(self._watch_hit) < len(unreferenced):  # carry this chunk's tag
                    self._watch_evictable += [state[b] for b in self._watch_hit].count(tag)
                else:
                    self._watch_evictable += len(self._watch_positions().keys() & unreferenced)

    def _prepend(self, block_ids: list[int]) -> None:
        """Put unreferenced blocks that are not in the prefix index at the head of the free queue,
        in this order (vLLM's `free_blocks`: LIFO reuse of blocks that can never hit)."""
        tag = -1 - self._num_chunks
        self._num_chunks += 1
        state = self._state
        for b in block_ids:
            state[b] = tag
        self._queue.appendleft([tag, block_ids, 0])

    def _pop_free(self, num_blocks: int) -> list[int]:
        """The `num_blocks` oldest live entries of the free queue, skipping stale ones (a run of
        stale entries, the blocks a program's next turn hit, is probed in doubling slices)."""
        out: list[int] = []
        queue, state = self._queue, self._state
        need = num_blocks
        while need > 0:
            entry = queue[0]
            tag, blocks, pos = entry
            size = need
            while need > 0 and pos < len(blocks):
                part = blocks[pos:pos + size]
                live = [b for b in part if state[b] == tag]
                if len(live) > need:  # take the first `need`, stop after the last one taken
                    live = live[:need]
                    pos += part.index(live[-1]) + 1
                else:
                    pos += len(part)
                    size *= 2
                out += live
                need -= len(live)
            if pos >= len(blocks):
                queue.popleft()
            else:
                entry[2] = pos
        return out

    def _cut_watch(self, allocated: list[int]) -> None:
        """Blocks leave the free queue to be reused: if some are in the watched hit prefix, it now
        ends before the first of them."""
        hit = self._watch_hit
        evicted = set(allocated).intersection(hit)  # a scan in C: building positions costs more
        if not evicted:  # (it is usually done once per watch, for nothing)
            return
        if self._watch_pos is None and len(evicted) <= 8:
            cut = min(map(hit.index, evicted))
        else:
            pos = self._watch_positions()
            cut = min(pos[b] for b in evicted)
        dropped = hit[cut:]
        del hit[cut:]
        if self._watch_pos is not None:
            for b in dropped:
                del self._watch_pos[b]
        if self._watch_evictable is not None:
            self._watch_evictable -= self.num_evictable(dropped)

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

    def pinned(self, program_id: str) -> list[int] | None:
        """The blocks the program's pin holds (None: no pin)."""
        return self._pins.get(program_id)

    def pinned_programs(self) -> list[str]:
        return list(self._pins)
