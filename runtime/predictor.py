"""Tool-latency predictor (placeholder by the lead; the policy owner replaces it).

API: observe_tool(name, duration), observe_gap(program_id, gap), gap_samples(program_id, tool_name=None).
"""

from __future__ import annotations

import math
from collections import deque


class ToolLatencyPredictor:
    def __init__(self, window: int = 64) -> None:
        self.window = window
        self.tools: dict[str, deque[float]] = {}
        self.gaps: dict[str, deque[float]] = {}
        self.global_gaps: deque[float] = deque(maxlen=window)
        self.rejected = 0

    def _ok(self, x: float) -> bool:
        if math.isnan(x) or math.isinf(x) or x < 0:
            self.rejected += 1
            return False
        return True

    def observe_tool(self, name: str, duration: float) -> None:
        if self._ok(duration):
            self.tools.setdefault(name, deque(maxlen=self.window)).append(duration)

    def observe_gap(self, program_id: str, gap: float) -> None:
        if self._ok(gap):
            self.gaps.setdefault(program_id, deque(maxlen=self.window)).append(gap)
            self.global_gaps.append(gap)

    def gap_samples(self, program_id: str, tool_name: str | None = None) -> tuple[float, ...]:
        if tool_name is not None and tool_name in self.tools:
            return tuple(self.tools[tool_name])
        if program_id in self.gaps:
            return tuple(self.gaps[program_id])
        return tuple(self.global_gaps)
