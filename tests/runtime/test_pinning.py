"""The TTL decision (pure) and the pin cost rate."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentrt.runtime.scheduling.pinning import PinState, PinTable, choose_ttl, cost_rate


def test_choose_ttl_maximizes_hit_benefit_minus_holding_cost() -> None:
    # values: tau=1: .25*10-1=1.5, 2: 5-2=3, 3: 7.5-3=4.5; 100 is past max_ttl
    assert choose_ttl((3.0, 1.0, 100.0, 2.0), benefit=10.0, cost_rate=1.0, max_ttl=60.0) == 3.0


def test_ttl_zero_when_tool_far_longer_than_break_even() -> None:
    # break-even B / c = 2 / 0.1 = 20 s; the tool takes 50-70 s
    assert choose_ttl((50.0, 60.0, 70.0), benefit=2.0, cost_rate=0.1, max_ttl=600.0) == 0.0


def test_ttl_positive_for_short_tool() -> None:
    assert choose_ttl((0.5, 0.6, 0.7), benefit=2.0, cost_rate=0.1, max_ttl=60.0) == 0.7


def test_ttl_ties_go_to_the_shorter_pin_and_duplicates_count_together() -> None:
    assert choose_ttl((1.0, 3.0), benefit=4.0, cost_rate=1.0, max_ttl=60.0) == 1.0  # 1 == 1
    assert choose_ttl((2.0, 2.0, 2.0, 10.0), benefit=4.0, cost_rate=0.1, max_ttl=60.0) == 10.0  # 2.8 < 3


@pytest.mark.parametrize(("samples", "benefit", "max_ttl"), [
    ((), 10.0, 60.0),
    ((1.0, 2.0), 0.0, 60.0),
    ((1.0, 2.0), math.nan, 60.0),
    ((1.0, 2.0), 10.0, 0.0),
    ((math.nan, -1.0, math.inf), 10.0, 60.0),
])
def test_ttl_zero_without_usable_input(samples: tuple[float, ...], benefit: float, max_ttl: float) -> None:
    assert choose_ttl(samples, benefit, 0.1, max_ttl) == 0.0


def test_bad_samples_are_ignored_and_long_ones_still_count_in_the_distribution() -> None:
    # valid samples: 1 and 100 -> F(1) = 1/2 (100 is beyond max_ttl but still a miss at tau=1)
    assert choose_ttl([1.0, math.nan, -3.0, 100.0], benefit=4.0, cost_rate=1.0, max_ttl=10.0) == 1.0
    assert choose_ttl([1.0, 100.0], benefit=1.5, cost_rate=1.0, max_ttl=10.0) == 0.0  # .75 - 1 < 0
    assert choose_ttl(iter([0.5, 0.5]), benefit=1.0, cost_rate=1.0, max_ttl=10.0) == 0.5


def _reference_ttl(samples: list[float], benefit: float, cost_rate: float, max_ttl: float) -> float:
    """choose_ttl as the module docstring defines it: every candidate scanned, nothing skipped."""
    valid = [x for x in samples if math.isfinite(x) and x >= 0]
    if not benefit > 0:
        return 0.0
    best_tau, best_value = 0.0, 0.0
    for tau in sorted(x for x in valid if x <= max_ttl):
        value = len([x for x in valid if x <= tau]) / len(valid) * benefit - cost_rate * tau
        if value > best_value:
            best_tau, best_value = tau, value
    return best_tau


_SAMPLE = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0, 30.0, math.nan, math.inf, -1.0]),
                    st.floats(min_value=0, max_value=1e3), st.floats(allow_nan=True, allow_infinity=True))
_RATE = st.one_of(st.sampled_from([0.0, 0.01, 1.0, math.inf, math.nan]), st.floats(min_value=0, max_value=1e3))


@given(st.lists(_SAMPLE, max_size=60), st.floats(allow_nan=True, allow_infinity=True), _RATE,
       st.floats(min_value=0, max_value=1e3))
def test_choose_ttl_equals_the_full_scan(samples: list[float], benefit: float, rate: float, max_ttl: float) -> None:
    """The skips (runs of equal samples, the early stop, the all-valid check) change no answer."""
    assert choose_ttl(tuple(samples), benefit, rate, max_ttl) == _reference_ttl(samples, benefit, rate, max_ttl)


def test_cost_rate_scales_share_by_demand() -> None:
    assert cost_rate(0.1, 0.0, idle_cost=0.01, max_demand=10.0) == pytest.approx(0.001)
    assert cost_rate(0.1, 2.0, idle_cost=0.01, max_demand=10.0) == pytest.approx(0.201)
    assert cost_rate(0.1, 50.0, idle_cost=0.01, max_demand=10.0) == pytest.approx(1.001)
    assert cost_rate(0.1, math.inf, idle_cost=0.01, max_demand=10.0) == pytest.approx(1.001)
    assert cost_rate(0.1, math.nan, idle_cost=0.01, max_demand=10.0) == pytest.approx(0.001)


def test_pin_table_expires_by_heap_and_ignores_replaced_entries() -> None:
    table = PinTable()
    table.add(PinState("a", 4, 0.0, 5.0, 0.0, 0.0, 0.0))
    table.add(PinState("b", 6, 0.0, 3.0, 0.0, 0.0, 0.0))
    table.set_expiry("b", 8.0)
    assert table.num_blocks == 10 and table.next_expiry() == 5.0
    assert table.expire(4.0) == []
    assert table.expire(5.0) == ["a"]
    assert table.next_expiry() == 8.0
    assert table.pop("b") is not None and table.expire(100.0) == [] and table.num_blocks == 0
    assert table.next_expiry() == math.inf
