"""`Tokens`: an immutable token sequence that grows by concatenation without copying.

Agent prompts are almost always "previous prompt + previous answer + a few new tokens". Copying a
40K-token list per turn would dominate replay time, so a sequence is a persistent linked list of
segments (a rope with sharing): `prompt + answer + Tokens.synthetic(n)` allocates two nodes and
shares the rest with the previous prompt. Block hashes for prefix caching are computed per node,
incrementally from the parent's, so a turn costs O(new tokens / block size).

A segment is either explicit token ids or a synthetic run `(seed, length)` that stands for
`length` deterministic pseudo-random ids (used by trace replay, where only counts are recorded).
The alternative, materializing synthetic ids eagerly, costs 120M ints for one SWE-bench replay.
"""

from __future__ import annotations

import hashlib
import random
import weakref
from collections.abc import Iterable, Iterator
from itertools import count

_anonymous_seeds = count(1 << 40)

Piece = tuple[int, ...]  # explicit ids, or (-1, seed, start, end) for part of a synthetic run


def seed_of(key: str) -> int:
    """A stable 63-bit seed for a string key (independent of PYTHONHASHSEED)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") >> 1


class Tokens:
    """An immutable sequence of token ids, cheap to extend. Build with `synthetic`, `of`, `+`."""

    __slots__ = ("parent", "seed", "ids", "size", "_len", "_hash_cache", "_last_sum", "__weakref__")

    def __init__(self, parent: Tokens | None, seed: int | None, ids: tuple[int, ...] | None, size: int):
        self.parent = parent
        self.seed, self.ids, self.size = seed, ids, size
        self._len = size + (len(parent) if parent is not None else 0)
        self._hash_cache: dict[int, tuple[list[int], list[Piece], int]] = {}
        self._last_sum: tuple[Tokens, weakref.ref[Tokens]] | None = None  # see `__add__`

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> Tokens:
        return _EMPTY

    @classmethod
    def synthetic(cls, n: int, key: str | int | None = None) -> Tokens:
        """`n` deterministic pseudo-random tokens; the same `key` gives the same tokens.

        Raises ValueError if n < 0.
        """
        if n < 0:
            raise ValueError(f"token count must be >= 0, got {n}")
        seed = next(_anonymous_seeds) if key is None else (seed_of(key) if isinstance(key, str) else key)
        return cls(None, seed, None, n)

    @classmethod
    def of(cls, ids: Iterable[int]) -> Tokens:
        """Explicit token ids."""
        t = tuple(int(i) for i in ids)
        return cls(None, None, t, len(t))

    def __add__(self, other: Tokens) -> Tokens:
        """`self` followed by `other`. The same sum twice in a row is the same object, so its block
        hashes are computed once: an engine hashes `prompt + output` and the runtime hands the
        program that same sum as the call's context (a weak reference: it does not keep it alive)."""
        if not isinstance(other, Tokens):
            return NotImplemented
        last = self._last_sum
        if last is not None and last[0] is other and (known := last[1]()) is not None:
            return known
        out = self
        for node in (other,) if other.parent is None else other._nodes():  # (most sums add one node)
            if node.size:
                out = Tokens(out if len(out) else None, node.seed, node.ids, node.size)
        if out is not self and self._len:  # (not on the shared empty sequence)
            self._last_sum = (other, weakref.ref(out))
        return out

    def __reduce__(self) -> tuple[type[Tokens], tuple[Tokens | None, int | None, tuple[int, ...] | None, int]]:
        """Pickled as its segments, without the caches (a Ray replica gets its prompts pickled)."""
        return Tokens, (self.parent, self.seed, self.ids, self.size)

    # -- inspection ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return f"Tokens(len={self._len}, segments={sum(1 for _ in self._nodes())})"

    def _nodes(self) -> list[Tokens]:
        nodes: list[Tokens] = []
        node: Tokens | None = self
        while node is not None:
            nodes.append(node)
            node = node.parent
        nodes.reverse()
        return nodes

    def pieces(self) -> Iterator[Piece]:
        """Segments from the start: (-1, seed, 0, size) for synthetic runs, the id tuple otherwise."""
        for node in self._nodes():
            if node.size:
                yield node.ids if node.ids is not None else (-1, node.seed or 0, 0, node.size)

    def to_ids(self, vocab_size: int, *, low: int = 0) -> list[int]:
        """Materialize as a list of ids; synthetic runs draw from [low, vocab_size) by seed."""
        out: list[int] = []
        for node in self._nodes():
            if node.ids is not None:
                out.extend(node.ids)
            elif node.size:
                rng = random.Random(node.seed)
                out.extend(rng.randrange(low, vocab_size) for _ in range(node.size))
        return out

    def block_hashes(self, block_size: int) -> list[int]:
        """Chained hashes of the full blocks, as a prefix cache keys them (vLLM v1 semantics:
        block i's hash depends on every token up to the end of block i). Cached per node."""
        return self._hashes(block_size)[0]

    def _hashes(self, block_size: int) -> tuple[list[int], list[Piece], int]:
        cached = self._hash_cache.get(block_size)
        if cached is not None:
            return cached
        if self.parent is None:
            hashes: list[int] = []
            tail: list[Piece] = []
            in_tail = 0
        else:
            parent_hashes, parent_tail, in_tail = self.parent._hashes(block_size)
            hashes, tail = list(parent_hashes), list(parent_tail)
        in_tail = _extend(hashes, tail, in_tail, self, block_size)
        result = (hashes, tail, in_tail)
        self._hash_cache[block_size] = result
        return result


def _extend(hashes: list[int], tail: list[Piece], in_tail: int, node: Tokens, block_size: int) -> int:
    """Append `node`'s tokens to (full-block hashes, partial tail), in place; return the tail length.

    A synthetic piece is (-1, seed, start, end); ids are never negative, so it cannot collide
    with an explicit id tuple."""
    pos = 0
    while pos < node.size:
        take = min(block_size - in_tail, node.size - pos)
        if node.ids is not None:
            tail.append(node.ids[pos:pos + take])
        else:
            tail.append((-1, node.seed, pos, pos + take))  # type: ignore[arg-type]
        pos += take
        in_tail += take
        if in_tail == block_size:
            prev = hashes[-1] if hashes else 0
            hashes.append(hash((prev, tuple(tail))))
            tail.clear()
            in_tail = 0
    return in_tail


_EMPTY = Tokens(None, None, (), 0)
