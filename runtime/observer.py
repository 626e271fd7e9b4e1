"""Runtime events for tracing and progress: subclass `Observer` and pass it to `Runtime(observers=...)`.

Hooks run synchronously on the runtime's task; they must be quick and must not raise.
"""

from __future__ import annotations

from agentrt.programs.records import CallRecord, ProgramRecord


class Observer:
    """No-op base: override the hooks you need."""

    def program_started(self, program: ProgramRecord) -> None:
        """A program instance started."""

    def program_finished(self, program: ProgramRecord) -> None:
        """A program instance finished (ok, failed or cancelled); its record is final."""

    def call_started(self, call: CallRecord) -> None:
        """A call was issued (its parents and priority are set)."""

    def call_finished(self, call: CallRecord) -> None:
        """A call finished (done, failed or cancelled); its accounting is final."""
