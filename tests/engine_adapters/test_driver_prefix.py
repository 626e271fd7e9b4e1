"""The prefix lookup sits behind the KV protocol: the driver asks the engine's `KVBlocks` how much
of an arriving prompt is cached, on every engine, instead of each engine passing a number in."""

from __future__ import annotations

from typing import Any

from agentrt.engine_adapters.driver import EngineDriver
from agentrt.engine_adapters.kv import KVBlocks
from agentrt.engine_adapters.vllm.pins import PinnedBlocks
from agentrt.runtime.scheduling import ProgramScheduler, SchedHints


class CountingKV:
    """A `KVBlocks` whose prefix lookup answers from a table of prompts and records its calls."""

    num_blocks, num_free, block_size = 100, 100, 16

    def __init__(self, hits: dict[str, int]) -> None:
        self.hits = hits
        self.looked_up: list[str] = []

    def blocks_for(self, num_tokens: int) -> int:
        return -(-num_tokens // 16)

    def prefix_hit_tokens(self, prompt: Any) -> int:
        self.looked_up.append(prompt)
        return self.hits.get(prompt, 0)

    def pin(self, program_id: str, blocks: list[Any]) -> None: ...

    def unpin(self, program_id: str) -> int:
        return 0

    def free(self, blocks: list[Any]) -> None: ...


def test_the_driver_takes_the_cached_prefix_from_the_kv_protocol() -> None:
    kv = CountingKV({"second turn": 96})
    estimates: list[tuple[int, int]] = []

    def prefill_time(num_tokens: int, num_cached_tokens: int = 0, /) -> float:
        estimates.append((num_tokens, num_cached_tokens))
        return (num_tokens - num_cached_tokens) / 1000

    protocol: KVBlocks = kv
    driver = EngineDriver(ProgramScheduler("fcfs"), protocol, prefill_time)
    first = driver.on_arrival("c1", "p", SchedHints(), 0.0, prompt="first turn", num_prompt_tokens=100)
    second = driver.on_arrival("c2", "p", SchedHints(), 1.0, prompt="second turn", num_prompt_tokens=130)
    assert kv.looked_up == ["first turn", "second turn"]
    assert estimates == [(100, 0), (130, 96)]
    assert (first.num_new_tokens, second.num_new_tokens) == (100, 34)
    assert driver.wanted_blocks() == kv.blocks_for(100) + kv.blocks_for(34)


class Pool:
    """The two calls `PinnedBlocks` makes of vLLM's `BlockPool` for a lookup."""

    def __init__(self, cached: dict[int, str]) -> None:
        self.cached = cached

    def get_cached_block(self, block_hash: int, group_ids: list[int]) -> list[str] | None:
        block = self.cached.get(block_hash)
        return None if block is None else [block]


class Request:
    def __init__(self, block_hashes: list[int], num_prompt_tokens: int) -> None:
        self.block_hashes, self.num_prompt_tokens = block_hashes, num_prompt_tokens


def test_the_vllm_lookup_stops_at_the_first_miss_and_before_the_last_prompt_token() -> None:
    pinned = PinnedBlocks(Pool({1: "b1", 2: "b2", 3: "b3", 5: "b5"}), block_size=16, num_blocks=8)
    assert pinned.cached_prefix(Request([1, 2, 3, 4, 5], 80)) == ["b1", "b2", "b3"]
    assert pinned.prefix_hit_tokens(Request([1, 2, 3], 48)) == 32  # block 3 holds the last token
    assert pinned.prefix_hit_tokens(Request([1, 2, 3], 49)) == 48
    assert pinned.prefix_hit_tokens(Request([7, 2], 40)) == 0
