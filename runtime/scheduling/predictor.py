"""Tool-latency predictor: online, bounded-memory empirical distributions for the pin TTL.

Two kinds of observation feed the TTL decision (runtime/scheduling/pinning.py):
- per tool name, the durations of its calls (Continuum's distribution: once the engine learns
  which tool runs, the pin is re-decided from it);
- per program, the gap between one of its calls finishing and its next call arriving (what the
  TTL must cover, known before the tool is).
Each is a sliding window of the most recent samples (a deque with maxlen): agents' tools drift
(caches warm up, sandboxes get busy), so recent samples beat a uniform reservoir over all time.
Cold start falls back to global windows pooled over all tools / all programs. The number of tools
and programs tracked is bounded too: the least recently observed is dropped first.

Negative, NaN and infinite values never enter a window; they are counted in `num_rejected`.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class PredictorStats:
    num_tools: int
    num_programs: int
    num_observed: int
    num_rejected: int


class _Windows:
    """Named sliding windows, at most `max_names` of them (least recently observed dropped)."""

    def __init__(self, window: int, max_names: int) -> None:
        self.window, self.max_names = window, max_names
        self.by_name: OrderedDict[str, deque[float]] = OrderedDict()

    def add(self, name: str, value: float) -> None:
        samples = self.by_name.get(name)
        if samples is None:
            samples = self.by_name[name] = deque(maxlen=self.window)
            if len(self.by_name) > self.max_names:
                self.by_name.popitem(last=False)
        else:
            self.by_name.move_to_end(name)
        samples.append(value)

    def get(self, name: str) -> tuple[float, ...]:
        samples = self.by_name.get(name)
        return tuple(samples) if samples else ()


class ToolLatencyPredictor:
    """Per-tool durations and per-program gaps, each a bounded window of recent samples.

    window: samples kept per tool; gap_window: per program; global_window: in each global pool;
    min_samples: fewer samples than this for a tool or program fall back to the global pool;
    max_tools / max_programs: names tracked (least recently observed dropped first).
    Raises ValueError if a size is below 1."""

    def __init__(self, *, window: int = 64, gap_window: int = 16, global_window: int = 256,
                 min_samples: int = 3, max_tools: int = 1024, max_programs: int = 16384) -> None:
        for name, value in (("window", window), ("gap_window", gap_window), ("global_window", global_window),
                            ("min_samples", min_samples), ("max_tools", max_tools), ("max_programs", max_programs)):
            if value < 1:
                raise ValueError(f"{name}={value} must be >= 1")
        self.min_samples = min_samples
        self._tools = _Windows(window, max_tools)
        self._gaps = _Windows(gap_window, max_programs)
        self._global_tools: deque[float] = deque(maxlen=global_window)
        self._global_gaps: deque[float] = deque(maxlen=global_window)
        self.num_observed = 0
        self.num_rejected = 0

    def observe_tool(self, name: str, duration: float) -> bool:
        """Record a tool call's duration (s). Returns False (and counts it) if it was rejected."""
        if not self._accept(duration):
            return False
        self._tools.add(name, duration)
        self._global_tools.append(duration)
        return True

    def observe_gap(self, program_id: str, gap: float) -> bool:
        """Record the gap (s) between a call's finish and the program's next call."""
        if not self._accept(gap):
            return False
        self._gaps.add(program_id, gap)
        self._global_gaps.append(gap)
        return True

    def gap_samples(self, program_id: str, tool_name: str | None = None) -> tuple[float, ...]:
        """The distribution to pin by: the tool's durations when the tool is known and has
        `min_samples`, else the program's gaps if it has as many, else the global pool (of tool
        durations when a tool is named, of gaps otherwise; the other pool if that one is empty)."""
        tool = self._tools.get(tool_name) if tool_name is not None else ()
        if len(tool) >= self.min_samples:
            return tool
        gaps = self._gaps.get(program_id)
        if len(gaps) >= self.min_samples:
            return gaps
        first, second = self._global_gaps, self._global_tools
        if tool_name is not None:
            first, second = second, first
        return tuple(first) or tuple(second)

    def forget_program(self, program_id: str) -> None:
        """Drop a finished program's gap window (the global pool keeps its samples)."""
        self._gaps.by_name.pop(program_id, None)

    def statistics(self) -> PredictorStats:
        return PredictorStats(num_tools=len(self._tools.by_name), num_programs=len(self._gaps.by_name),
                              num_observed=self.num_observed, num_rejected=self.num_rejected)

    def _accept(self, value: float) -> bool:
        if isinstance(value, (int, float)) and math.isfinite(value) and value >= 0:
            self.num_observed += 1
            return True
        self.num_rejected += 1
        return False
