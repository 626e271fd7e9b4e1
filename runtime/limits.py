"""`RunLimits`: the per-program timeout and the run's wall-clock deadline of one Runtime."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentrt.exceptions import ConfigError, RunDeadlineError
from agentrt.runtime.deadline import WallDeadline

if TYPE_CHECKING:
    from agentrt.runtime.instance import ProgramInstance

FailRunning = Callable[[Callable[["ProgramInstance"], BaseException]], None]


@dataclass(slots=True)
class RunLimits:
    """`program_timeout`: runtime seconds (virtual under the simulator) each program may run.
    `deadline`: wall seconds from the runtime's start after which programs fail with
    RunDeadlineError. Raises ConfigError unless each is None or > 0 and finite."""

    program_timeout: float | None = None
    deadline: float | None = None
    _wall: WallDeadline | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for flag, value in (("--timeout", self.program_timeout), ("--deadline", self.deadline)):
            if value is not None and not 0 < value < float("inf"):
                raise ConfigError(f"{flag} {value!r}: give a positive number of seconds")

    def start(self, fail_running: FailRunning) -> None:
        """Arm the deadline (inside the event loop): at expiry, fail every running program."""
        if self.deadline is None:
            return
        deadline = self.deadline
        self._wall = WallDeadline(time.monotonic() + deadline, lambda: fail_running(
            lambda p: RunDeadlineError(p.program_id, p.record.name, deadline)))

    def stop(self) -> None:
        if self._wall is not None:
            self._wall.cancel()

    def deadline_error(self, instance: ProgramInstance) -> RunDeadlineError | None:
        """The error of a program that starts after the deadline passed, else None."""
        if self._wall is None or self.deadline is None or not self._wall.passed:
            return None
        return RunDeadlineError(instance.program_id, instance.record.name, self.deadline)


class DeadlineBudget:
    """What is left of `--deadline` across several runs (bench runs many replays one by one)."""

    def __init__(self, deadline: float | None) -> None:
        self.end = None if deadline is None else time.monotonic() + deadline

    @property
    def expired(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end

    def remaining(self) -> float | None:
        """Wall seconds left (at least a millisecond, so a late run fails at once), None without a deadline."""
        return None if self.end is None else max(1e-3, self.end - time.monotonic())
