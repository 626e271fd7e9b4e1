"""`TracingObserver`: OpenTelemetry spans and metrics for programs and their calls.

    observer = TracingObserver(tracer_provider, meter_provider)
    async with Runtime(engine, observers=[observer]) as rt: ...

Spans. One per program instance (`program <name>`); a sub-program's span is a child of its
caller's program span. One per call (`llm <name>`, `tool <name>`, `program <name>`), a child of its
program's span, with an OpenTelemetry link to the span of each of its DAG parents (their ids are
also in `agentrt.call.parent_ids`), so the DAG is in the trace and the tree stays two levels deep.
Alternative considered: parenting each call under its first DAG parent's span, which draws the DAG
as the trace tree but nests a 50-turn agent 50 deep and drops a fan-in's other parents.

Times come from the runtime clock (virtual under the simulator) mapped onto the wall clock: the
first event seen anchors runtime time t0 to `time.time_ns()`, and a time t becomes
anchor + (t - t0) s, so a simulated hour shows as an hour in the trace viewer.

Metrics: histograms `agentrt.program.jct` (s, per program instance, with its name, status and
whether it is top-level) and `agentrt.call.queue_wait` (s, per LLM call).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Link, Span, SpanContext, Status, StatusCode

from agentrt.exceptions import ConfigError, UnknownNameError
from agentrt.programs.records import CallKind, CallRecord, CallStatus, ProgramRecord, ProgramStatus
from agentrt.runtime.observer import Observer
from agentrt.tools.registry import current_tool_call

OTEL_EXPORTERS = ("none", "console", "otlp")


class TracingObserver(Observer):
    """Emits the spans and metrics described above. Providers default to the global ones."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None,
                 meter_provider: metrics.MeterProvider | None = None) -> None:
        self._tracer = trace.get_tracer("agentrt", tracer_provider=tracer_provider)
        meter = metrics.get_meter("agentrt", meter_provider=meter_provider)
        self._jct = meter.create_histogram("agentrt.program.jct", unit="s",
                                           description="Program job completion time (finish - start)")
        self._queue_wait = meter.create_histogram("agentrt.call.queue_wait", unit="s",
                                                  description="Time an LLM call waited in the engine's queues")
        self._program_spans: dict[str, Span] = {}
        self._open_calls: dict[str, Span] = {}
        self._call_contexts: dict[str, SpanContext] = {}  # every call of a running program, for links
        self._anchor: tuple[float, int] | None = None

    def _ns(self, t: float) -> int:
        if self._anchor is None:
            self._anchor = (t, time.time_ns())
        return self._anchor[1] + int((t - self._anchor[0]) * 1e9)

    # -- programs -----------------------------------------------------------------------------
    def program_started(self, program: ProgramRecord) -> None:
        parent = self._program_spans.get(program.parent_id or "")
        span = self._tracer.start_span(
            f"program {program.name}", context=trace.set_span_in_context(parent) if parent else None,
            start_time=self._ns(program.start),
            attributes={"agentrt.program.id": program.program_id, "agentrt.program.name": program.name,
                        "agentrt.program.parent_id": program.parent_id or ""})
        self._program_spans[program.program_id] = span

    def program_finished(self, program: ProgramRecord) -> None:
        end = self._ns(program.finish if program.finish is not None else program.start)
        for call_id in program.calls:  # calls cancelled with the program report no finish
            call_span = self._open_calls.pop(call_id, None)
            if call_span is not None:
                call_span.set_attribute("agentrt.call.status", CallStatus.CANCELLED.value)
                call_span.end(end_time=end)
            self._call_contexts.pop(call_id, None)
        span = self._program_spans.pop(program.program_id, None)
        if span is None:
            return
        span.set_attributes({"agentrt.program.status": program.status.value, "agentrt.program.jct": program.jct,
                             "agentrt.program.attained_service": program.attained_service,
                             "agentrt.program.critical_path_service": program.critical_path_service,
                             "agentrt.program.num_calls": program.num_calls})
        if program.status is ProgramStatus.FAILED:
            span.add_event("exception", {"exception.message": program.error or "",
                                         "exception.stacktrace": program.traceback or ""}, timestamp=end)
            span.set_status(Status(StatusCode.ERROR, program.error))
        span.end(end_time=end)
        self._jct.record(program.jct, {"agentrt.program.name": program.name, "agentrt.program.status":
                                       program.status.value, "agentrt.program.top_level": program.parent_id is None})

    # -- calls --------------------------------------------------------------------------------
    def call_started(self, call: CallRecord) -> None:
        parent = self._program_spans.get(call.program_id)
        links = [Link(self._call_contexts[p]) for p in call.parent_ids if p in self._call_contexts]
        span = self._tracer.start_span(
            f"{call.kind.value} {call.name}", context=trace.set_span_in_context(parent) if parent else None,
            start_time=self._ns(call.arrival), links=links,
            attributes={"agentrt.program.id": call.program_id, "agentrt.call.id": call.call_id,
                        "agentrt.call.kind": call.kind.value, "agentrt.call.name": call.name,
                        "agentrt.call.priority": call.priority, "agentrt.call.parent_ids": list(call.parent_ids)})
        self._open_calls[call.call_id] = span
        self._call_contexts[call.call_id] = span.get_span_context()

    def call_finished(self, call: CallRecord) -> None:
        span = self._open_calls.pop(call.call_id, None)
        if span is None:
            return
        span.set_attribute("agentrt.call.status", call.status.value)
        span.set_attributes(_KIND_ATTRIBUTES[call.kind](call))
        if call.status is CallStatus.FAILED:
            span.set_status(Status(StatusCode.ERROR, call.error))
        if call.kind is CallKind.LLM and call.status is CallStatus.DONE:
            self._queue_wait.record(call.queue_wait, {"agentrt.call.name": call.name})
        span.end(end_time=self._ns(call.finish if call.finish is not None else call.arrival))


def _llm_attributes(call: CallRecord) -> dict[str, Any]:
    return {"agentrt.llm.queue_wait": call.queue_wait, "agentrt.llm.prefill_tokens": call.prefill_tokens,
            "agentrt.llm.cached_tokens": call.cached_tokens, "agentrt.llm.decode_tokens": call.decode_tokens,
            "agentrt.llm.pinned": call.pinned, "agentrt.llm.service_time": call.service_time,
            "agentrt.llm.preemptions": call.preemptions}


def _tool_attributes(call: CallRecord) -> dict[str, Any]:
    # call_finished runs in the tool call's task, which sees the tool's annotations (exit code)
    info = current_tool_call()
    notes = info.attributes if info is not None and info.call_id == call.call_id else {}
    timed_out = notes.get("timed_out", False) or "timed out" in (call.error or "")
    status = "timeout" if timed_out else {CallStatus.DONE: "ok", CallStatus.FAILED: "error"}.get(call.status, "cancelled")
    out: dict[str, Any] = {"agentrt.tool.name": call.name, "agentrt.tool.exit_status": status,
                           "agentrt.tool.time": call.tool_time}
    if "exit_code" in notes:
        out["agentrt.tool.exit_code"] = notes["exit_code"]
    return out


def _program_call_attributes(call: CallRecord) -> dict[str, Any]:
    return {"agentrt.program.critical_path_service": call.service_time}


_KIND_ATTRIBUTES: dict[CallKind, Callable[[CallRecord], dict[str, Any]]] = {
    CallKind.LLM: _llm_attributes, CallKind.TOOL: _tool_attributes, CallKind.PROGRAM: _program_call_attributes}


# -- exporters for the CLI (`--otel none|console|otlp`) ----------------------------------------
@dataclass(slots=True)
class OtelSetup:
    """The observer to pass to the runtime (None for `none`) and the providers to shut down."""

    observer: TracingObserver | None = None
    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None

    @property
    def observers(self) -> list[Observer]:
        return [self.observer] if self.observer is not None else []

    def shutdown(self) -> None:
        """Flush and stop the exporters."""
        if self.tracer_provider is not None:
            self.tracer_provider.shutdown()
        if self.meter_provider is not None:
            self.meter_provider.shutdown()


def setup_otel(exporter: str) -> OtelSetup:
    """Providers exporting to the console or to OTLP (endpoint, headers and protocol from the
    standard OTEL_EXPORTER_OTLP_* variables), and a TracingObserver using them.

    Raises UnknownNameError for an unknown exporter, ConfigError if `otlp` is asked for without
    opentelemetry-exporter-otlp installed."""
    if exporter not in OTEL_EXPORTERS:
        raise UnknownNameError("otel exporter", exporter, OTEL_EXPORTERS)
    if exporter == "none":
        return OtelSetup()
    spans: SpanExporter
    metric: MetricExporter
    if exporter == "console":  # stdout as it is now (the exporters' defaults bind it at import)
        spans, metric = ConsoleSpanExporter(out=sys.stdout), ConsoleMetricExporter(out=sys.stdout)
    else:
        spans, metric = _otlp_exporters()
    resource = Resource.create({} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "agentrt"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(spans))
    meter_provider = MeterProvider(resource=resource, metric_readers=[
        PeriodicExportingMetricReader(metric, export_interval_millis=60_000)])
    observer = TracingObserver(tracer_provider, meter_provider)
    return OtelSetup(observer, tracer_provider, meter_provider)


def _otlp_exporters() -> tuple[SpanExporter, MetricExporter]:
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    try:
        if protocol.startswith("http"):
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter  # type: ignore[no-redef,assignment]
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter  # type: ignore[no-redef,assignment]
    except ImportError as exc:
        raise ConfigError(f"--otel otlp needs the OTLP exporter ({exc.name} is missing): "
                          "pip install 'agentrt[otlp]' (opentelemetry-exporter-otlp)") from exc
    return OTLPSpanExporter(), OTLPMetricExporter()
