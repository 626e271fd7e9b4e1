"""The tool-latency predictor: bounded windows, fallbacks, rejected values."""

from __future__ import annotations

import math

import pytest

from agentrt.runtime.scheduling.predictor import PredictorStats, ToolLatencyPredictor


def test_tool_window_is_bounded_and_recent() -> None:
    pred = ToolLatencyPredictor(window=3, min_samples=1)
    for d in (1.0, 2.0, 3.0, 4.0):
        pred.observe_tool("search", d)
    assert pred.gap_samples("p", "search") == (2.0, 3.0, 4.0)


def test_fallbacks_tool_then_program_then_global() -> None:
    pred = ToolLatencyPredictor(min_samples=2)
    assert pred.gap_samples("p") == ()
    pred.observe_tool("grep", 0.2)
    pred.observe_tool("build", 30.0)
    assert pred.gap_samples("p", "grep") == (0.2, 30.0)  # 1 sample < 2: global tool pool
    assert pred.gap_samples("p") == (0.2, 30.0)  # no gaps anywhere: tool pool
    pred.observe_gap("q", 5.0)
    assert pred.gap_samples("p") == (5.0,)  # global gap pool first when no tool is named
    pred.observe_gap("p", 1.0)
    pred.observe_gap("p", 1.5)
    assert pred.gap_samples("p") == (1.0, 1.5)
    assert pred.gap_samples("p", "grep") == (1.0, 1.5)  # program's gaps beat a thin tool window
    pred.observe_tool("grep", 0.3)
    assert pred.gap_samples("p", "grep") == (0.2, 0.3)


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, -math.inf])
def test_bad_durations_never_enter_and_are_counted(bad: float) -> None:
    pred = ToolLatencyPredictor(min_samples=1)
    assert not pred.observe_tool("t", bad)
    assert not pred.observe_gap("p", bad)
    assert pred.observe_tool("t", 0.0)
    assert pred.gap_samples("p", "t") == (0.0,)
    assert pred.statistics() == PredictorStats(num_tools=1, num_programs=0, num_observed=1, num_rejected=2)


def test_names_tracked_are_bounded_least_recent_first() -> None:
    pred = ToolLatencyPredictor(max_tools=2, max_programs=1, min_samples=1)
    pred.observe_tool("a", 1.0)
    pred.observe_tool("b", 2.0)
    pred.observe_tool("a", 1.5)
    pred.observe_tool("c", 3.0)  # drops b, the least recently observed
    assert pred.gap_samples("p", "a") == (1.0, 1.5)
    assert pred.gap_samples("p", "b") == (1.0, 2.0, 1.5, 3.0)  # global pool
    pred.observe_gap("p1", 1.0)
    pred.observe_gap("p2", 2.0)
    assert pred.statistics().num_programs == 1
    pred.forget_program("p2")
    assert pred.statistics().num_programs == 0


def test_sizes_are_validated() -> None:
    with pytest.raises(ValueError, match="window=0 must be >= 1"):
        ToolLatencyPredictor(window=0)
