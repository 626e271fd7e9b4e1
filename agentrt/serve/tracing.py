"""OpenTelemetry spans of programs served over HTTP, shaped as the in-process ones (runtime/tracing.py).

One span per program (`program http`) from its first request to its end, one child span per call
(`llm chat`) with a link to its DAG parent's span, and a `tool_gap` event on the program span for
each gap between a response and the program's next request (seconds and tool names). Times come
from the server's clock (simulated seconds under `--time-scale`), anchored to the wall clock at
the first event as in runtime/tracing.py.
"""

from __future__ import annotations

import time

from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanContext, Status, StatusCode

from agentrt.serve.programs import ServedCall, ServedProgram


class ProgramSpans:
    """Spans for the programs of one server; providers default to the global one."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer("agentrt.serve", tracer_provider=tracer_provider)
        self._programs: dict[str, Span] = {}
        self._calls: dict[str, Span] = {}
        self._contexts: dict[str, SpanContext] = {}
        self._anchor: tuple[float, int] | None = None

    def _ns(self, t: float) -> int:
        if self._anchor is None:
            self._anchor = (t, time.time_ns())
        return self._anchor[1] + int((t - self._anchor[0]) * 1e9)

    def program_started(self, program: ServedProgram) -> None:
        self._programs[program.program_id] = self._tracer.start_span(
            "program http", start_time=self._ns(program.arrival),
            attributes={"agentrt.program.id": program.program_id, "agentrt.program.identified_by": program.source})

    def tool_gap(self, program: ServedProgram, gap: float, tool_names: tuple[str, ...]) -> None:
        span = self._programs.get(program.program_id)
        if span is not None and program.last_finish is not None:
            span.add_event("tool_gap", {"agentrt.tool.gap": gap, "agentrt.tool.names": list(tool_names)},
                           timestamp=self._ns(program.last_finish + gap))

    def call_started(self, call: ServedCall) -> None:
        parent = self._programs.get(call.program_id)
        links = [Link(self._contexts[call.parent_id])] if call.parent_id in self._contexts else []
        span = self._tracer.start_span(
            "llm chat", context=trace.set_span_in_context(parent) if parent else None,
            start_time=self._ns(call.arrival), links=links,
            attributes={"agentrt.program.id": call.program_id, "agentrt.call.id": call.call_id,
                        "agentrt.call.priority": call.priority, "agentrt.call.parent_ids": [call.parent_id or ""]})
        self._calls[call.call_id] = span
        self._contexts[call.call_id] = span.get_span_context()

    def call_finished(self, call: ServedCall, ok: bool) -> None:
        span = self._calls.pop(call.call_id, None)
        if span is None:
            return
        span.set_attribute("agentrt.llm.service_time", call.service_time)
        if not ok:
            span.set_status(Status(StatusCode.ERROR, "failed or aborted"))
        span.end(end_time=self._ns(call.finish if call.finish is not None else call.arrival))

    def program_ended(self, program: ServedProgram) -> None:
        for call_id in program.calls:
            self._contexts.pop(call_id, None)
            span = self._calls.pop(call_id, None)
            if span is not None:
                span.end()
        span = self._programs.pop(program.program_id, None)
        if span is None:
            return
        span.set_attributes({"agentrt.program.num_calls": len(program.calls), "agentrt.program.jct": program.jct or 0.0,
                             "agentrt.program.attained_service": program.attained_service,
                             "agentrt.program.end_reason": program.end_reason.value if program.end_reason else ""})
        span.end(end_time=self._ns(program.end if program.end is not None else program.arrival))
