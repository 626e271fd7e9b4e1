"""The paged KV cache: prefix hits, LRU eviction tail first, pins, watched lookups."""

from __future__ import annotations

from agentrt.engine_adapters.sim.kv_cache import KVCache
from agentrt.programs.tokens import Tokens


def hashes(n_tokens: int, key: str, block_size: int = 4) -> list[int]:
    return Tokens.synthetic(n_tokens, key=key).block_hashes(block_size)


def cached(kv: KVCache, seq_hashes: list[int]) -> int:
    return len(kv.lookup(seq_hashes, len(seq_hashes)))


def fill(kv: KVCache, seq_hashes: list[int]) -> list[int]:
    blocks = kv.allocate(len(seq_hashes))
    kv.register(blocks, seq_hashes, 0, len(seq_hashes))
    return blocks


def test_freed_blocks_stay_cached_and_hit() -> None:
    kv = KVCache(10, 4)
    a = hashes(16, "a")
    blocks = fill(kv, a)
    assert kv.num_free == 6
    kv.free(blocks)
    assert kv.num_free == 10
    hit = kv.lookup(a, 4)
    assert hit == blocks and kv.num_evictable(hit) == 4
    kv.touch(hit)
    assert kv.num_free == 6 and kv.lookup(a, 4) == blocks and kv.num_evictable(blocks) == 0


def test_lru_evicts_oldest_freed_first_and_the_tail_of_a_sequence_first() -> None:
    kv = KVCache(8, 4)
    a, b = hashes(16, "a"), hashes(16, "b")
    blocks_a = fill(kv, a)
    kv.free(blocks_a)
    blocks_b = fill(kv, b)  # takes the 4 never-used blocks first
    assert set(blocks_b).isdisjoint(blocks_a) and cached(kv, a) == 4
    kv.free(blocks_b)
    kv.allocate(1)  # the oldest freed: a's last block
    assert cached(kv, a) == 3 and cached(kv, b) == 4
    assert kv.num_evicted_blocks == 1
    kv.allocate(3)
    assert cached(kv, a) == 0 and cached(kv, b) == 4


def test_a_freed_block_outside_the_prefix_index_is_reused_before_any_cached_block() -> None:
    """vLLM 0.32's `BlockPool.free_blocks`: blocks that can never hit go to the head of the free
    queue (last freed, first reused), cached ones to its tail (tests/engine_adapters/test_sim_free_queue.py
    shows it on vLLM's scheduler)."""
    kv = KVCache(8, 4)
    b, a = hashes(16, "b"), hashes(12, "a")
    blocks_b = fill(kv, b)
    blocks_a = kv.allocate(4)
    kv.register(blocks_a, a, 0, 3)  # 3 full blocks; the 4th holds a partial block, never indexed
    kv.free(blocks_b)
    kv.free(blocks_a)
    assert kv.allocate(1) == [blocks_a[3]]  # freed after b's blocks, reused before them
    assert cached(kv, b) == 4 and cached(kv, a) == 3 and kv.num_evicted_blocks == 0
    assert kv.allocate(1) == [blocks_b[3]]  # then the least recently freed cached block, tail first
    assert cached(kv, b) == 3


def test_every_unindexed_tail_block_goes_to_the_head_tail_first() -> None:
    kv = KVCache(8, 4)
    a, b = hashes(20, "a"), hashes(12, "b")
    blocks_a = kv.allocate(5)
    kv.register(blocks_a, a, 0, 3)  # a preempted sequence: 3 blocks computed, 2 allocated for its next tokens
    blocks_b = fill(kv, b)
    kv.free(blocks_b)
    kv.free(blocks_a)
    assert kv.allocate(2) == [blocks_a[4], blocks_a[3]]
    assert cached(kv, b) == 3 and cached(kv, a) == 3


def test_a_hit_block_leaves_the_queue_and_its_stale_entry_is_skipped() -> None:
    kv = KVCache(4, 4)
    a = hashes(16, "a")
    blocks = fill(kv, a)
    kv.free(blocks)
    hit = kv.lookup(a, 2)
    kv.touch(hit)  # blocks 0 and 1 of a are in use again
    fresh = kv.allocate(2)
    assert set(fresh) == set(blocks[2:])  # never the blocks in use
    kv.free(hit)
    kv.free(fresh)
    assert kv.num_free == 4 and len(set(kv.allocate(4))) == 4


def test_pinned_blocks_are_never_evicted() -> None:
    kv = KVCache(8, 4)
    a = hashes(16, "a")
    kv.pin("p", fill(kv, a))
    assert kv.num_pinned_blocks == 4 and kv.num_free == 4
    kv.free(kv.allocate(4))
    kv.allocate(4)
    assert cached(kv, a) == 4
    assert kv.unpin("p") == 4 and kv.num_free == 4
    kv.allocate(4)
    assert cached(kv, a) == 0


def test_shared_blocks_are_freed_when_the_last_reference_goes() -> None:
    kv = KVCache(4, 4)
    a = hashes(8, "a")
    blocks = fill(kv, a)
    kv.touch(blocks)  # a second sequence shares them
    kv.free(blocks)
    assert kv.num_free == 2
    kv.free(blocks)
    assert kv.num_free == 4


def test_a_watched_lookup_follows_the_blocks_it_depends_on() -> None:
    kv = KVCache(12, 4)
    a, key = hashes(32, "a"), object()
    blocks = fill(kv, a[:4])
    kv.free(blocks)

    def check(expected_hits: int) -> None:
        watched = kv.lookup_watched(key, a, 8)
        assert watched == kv.lookup(a, 8) and len(watched) == expected_hits
        assert kv.watched_evictable() == kv.num_evictable(watched)

    check(4)
    other = kv.allocate(2)  # never-used blocks: the answer stands
    check(4)
    kv.register(blocks + other, a, 4, 6)  # the prefix grew (its new blocks are in use)
    check(6)
    kv.touch(blocks[:2])  # a sibling hits the first two
    check(6)
    kv.free(blocks[:2])
    kv.free(other)
    check(6)
    kv.allocate(7)  # the 6 never-used blocks, then the oldest freed: a's fourth block
    check(3)
    kv.allocate(kv.num_free)
    check(0)



def test_an_eviction_of_many_watched_blocks_cuts_the_watch_where_a_fresh_lookup_ends() -> None:
    """One allocation that evicts more than a few watched blocks, with the watch's block
    positions built (by a free that checks them) and not built."""
    for build_positions in (False, True):
        kv = KVCache(24, 4)
        a, key = hashes(80, "a"), object()
        blocks = fill(kv, a[:20])
        kv.free(blocks[10:])  # tail first: blocks 19..10 are the oldest free ones
        watched = kv.lookup_watched(key, a, 20)
        if build_positions:
            kv.watched_evictable()
            kv.free(blocks[:1])  # fewer blocks than the watch: the check goes through positions
        kv.allocate(4 + 9)  # the 4 never-used blocks, then nine of a's: 19..11
        watched = kv.lookup_watched(key, a, 20)
        assert watched == kv.lookup(a, 20) == blocks[:11]  # block 10 is still cached
        assert kv.watched_evictable() == kv.num_evictable(watched)

def test_a_guessed_lookup_confirms_the_guess_and_probes_past_it() -> None:
    kv = KVCache(12, 4)
    a = hashes(40, "a")  # 10 blocks
    first = fill(kv, a[:6])
    kv.free(first)
    rest = fill(kv, a[6:8])  # the prefix continues in blocks the guess does not name
    assert kv.lookup(a, 10, guess=first) == first + rest == kv.lookup(a, 10)
    assert kv.lookup(a, 3, guess=first) == first[:3]
    kv.allocate(5)  # the 4 never-used blocks, then the oldest freed: a's sixth block
    assert kv.lookup(a, 10, guess=first) == first[:5] == kv.lookup(a, 10)
    assert kv.lookup(a, 10, guess=first[::-1]) == first[:5]  # a wrong guess only costs probes
    assert kv.lookup(hashes(40, "b"), 10, guess=first) == []


def _state(kv: KVCache) -> tuple[object, ...]:
    queue = [(tag, blocks[pos:]) for tag, blocks, pos in kv._queue]
    return (kv._state, kv._hash, kv._hash_to_block, queue, kv.num_free, kv._pins, kv.num_pinned_blocks)


def test_touch_pinned_then_unpin_leaves_the_cache_as_touch_then_unpin() -> None:
    """A program's next call admitted on its pin: taking over the pin's references is the same as
    taking new ones and dropping the pin's, with or without a hit that the pin does not start with."""
    for hit_of in ("own", "shorter", "other"):
        twins = [KVCache(12, 4), KVCache(12, 4)]
        for kv in twins:
            own, other = fill(kv, hashes(20, "own")), fill(kv, hashes(8, "other"))
            kv.pin("p", own)  # the finished call's blocks, the last one partly filled
            kv.free(other)
            hit = {"own": own[:4], "shorter": own[:2], "other": other}[hit_of]
            if kv is twins[0]:
                kv.touch(hit)
            else:
                kv.touch_pinned("p", hit)
            kv.allocate(3)
            kv.unpin("p")
        assert _state(twins[0]) == _state(twins[1]), hit_of


def test_a_guess_with_its_registered_hashes_finds_what_reading_the_blocks_finds() -> None:
    kv = KVCache(16, 4)
    context = hashes(22, "ctx")  # 5 full blocks, then a partial one
    blocks = kv.allocate(6)
    assert kv.register(blocks, context, 0, 5)
    kv.pin("p", blocks)
    next_turn = Tokens.synthetic(22, key="ctx") + Tokens.synthetic(20, key="new")
    for new in (next_turn.block_hashes(4), context[:3] + hashes(12, "other"), hashes(40, "unrelated")):
        for max_blocks in (0, 2, 5, 8):
            assert kv.lookup(new, max_blocks, blocks, context[:5]) == kv.lookup(new, max_blocks, blocks)


def test_registering_a_hash_indexed_under_another_block_reports_it() -> None:
    kv = KVCache(8, 4)
    a = hashes(8, "a")
    first = fill(kv, a)
    second = kv.allocate(2)
    assert not kv.register(second, a, 0, 2)
    assert kv.lookup(a, 2) == first


class Prompt:
    """What `prefix_hit_tokens` reads of a `SimSequence`."""

    def __init__(self, program_id: str, num_tokens: int, seq_hashes: list[int]) -> None:
        self.program_id, self.num_tokens, self.hashes = program_id, num_tokens, seq_hashes


def test_prefix_hit_tokens_counts_whole_cached_blocks_but_never_the_last_prompt_token() -> None:
    kv = KVCache(10, 4)
    a = hashes(16, "a")
    blocks = fill(kv, a)
    kv.free(blocks)
    assert kv.prefix_hit_tokens(Prompt("p", 16, a)) == 12  # the 4th block holds token 16: computed
    assert kv.prefix_hit_tokens(Prompt("p", 17, hashes(17, "a"))) == 16
    assert kv.prefix_hit_tokens(Prompt("q", 16, hashes(16, "b"))) == 0
    kv.allocate(8)  # evicts the oldest freed blocks: the context's tail first
    assert kv.prefix_hit_tokens(Prompt("p", 17, hashes(17, "a"))) == 8


def test_a_remembered_context_guides_the_lookup_without_changing_its_answer() -> None:
    kv = KVCache(10, 4)
    a = hashes(16, "a")
    blocks = fill(kv, a)
    kv.pin("p", blocks)
    kv.remember_context("p", blocks, a)
    assert kv.context_guess("p") == (blocks, a)  # pinned: the hashes are known
    assert kv.prefix_hit_tokens(Prompt("p", 21, hashes(21, "a"))) == 16
    kv.unpin("p")
    assert kv.context_guess("p") == (blocks, None)  # unpinned: its blocks may be evicted
    kv.allocate(8)
    assert kv.prefix_hit_tokens(Prompt("p", 21, hashes(21, "a"))) == 8
    kv.forget_context("p")
    assert kv.context_guess("p") == (None, None)
