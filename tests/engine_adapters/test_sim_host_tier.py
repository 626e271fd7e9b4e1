"""The host KV tier (issue 15): a program's context evicted from the GPU during a tool call is
loaded back over PCIe instead of prefilled again; the buffer is finite (LRU by program); the pin
decision weighs the cheaper reload."""

from __future__ import annotations

import pytest
from trio.testing import MockClock

from agentrt.engine_adapters.sim.host_tier import HostKVTier
from tests.engine_adapters.test_sim_memory import FixedTTL, request, second_turn_after_pressure, serve

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> tuple[str, dict[str, object]]:
    return ("trio", {"clock": MockClock(autojump_threshold=0)})


async def test_an_evicted_context_is_loaded_from_host_memory_not_prefilled() -> None:
    without, _ = await second_turn_after_pressure("fcfs")
    second, engine = await second_turn_after_pressure("fcfs", host_kv_gib=4.0)
    stats = engine.statistics()
    assert without.num_prefill_tokens == 1666 - 176  # the GPU kept 11 of A's blocks
    assert second.num_cached_tokens == 176 and second.num_prefill_tokens == 66  # only the new tokens
    assert stats.num_swapped_tokens == 1600 - 176 and stats.num_reprefilled_tokens == 0
    assert second.service_time < without.service_time


async def test_a_full_host_buffer_drops_the_least_recent_context() -> None:
    # 0.25 GiB holds 128 blocks of 2 MiB (8B profile): B's 94 blocks push A's 100 out
    second, engine = await second_turn_after_pressure("fcfs", host_kv_gib=0.25)
    stats = engine.statistics()
    assert second.num_prefill_tokens == 1666 - 176
    assert stats.num_swapped_tokens == 0 and stats.num_reprefilled_tokens == 1600 - 176


async def test_the_pin_decision_weighs_the_cheaper_reload() -> None:
    without, with_host = FixedTTL(0.0), FixedTTL(0.0)
    await second_turn_after_pressure(without)
    await second_turn_after_pressure(with_host, host_kv_gib=4.0)
    a1, a1_host = without.queries[0], with_host.queries[0]  # A's first turn: its 100 full blocks
    assert a1.program_id == a1_host.program_id == "a" and a1.num_blocks == a1_host.num_blocks == 100
    assert 0 < a1_host.benefit < a1.benefit


def test_host_tier_keeps_whole_programs_least_recent_out() -> None:
    host = HostKVTier(10)
    host.store("a", [1, 2, 3, 4])
    host.store("b", [5, 6, 7, 8])
    assert host.num_hit_blocks("a", [1, 2, 3, 4, 9], 5) == 4
    assert host.num_hit_blocks("a", [1, 2, 0, 4], 4) == 2  # diverges at the third block
    assert host.num_hit_blocks("a", [1, 2, 3, 4], 3) == 3
    host.store("c", [9, 10, 11])  # 11 > 10: a (stored first) goes
    assert not host.holds("a") and host.holds("b") and host.holds("c")
    assert host.num_blocks == 7 and host.num_dropped_programs == 1
    host.store("b", [5, 6, 7, 8, 12])  # replaces b's context, no drop
    assert host.num_blocks == 8 and host.num_dropped_programs == 1
    host.store("d", list(range(11)))  # larger than the buffer: not kept, nothing dropped
    assert not host.holds("d") and host.num_blocks == 8
    host.drop("b")
    assert host.num_blocks == 3 and host.num_hit_blocks("b", [5], 1) == 0
    with pytest.raises(ValueError, match="capacity_blocks"):
        HostKVTier(0)
