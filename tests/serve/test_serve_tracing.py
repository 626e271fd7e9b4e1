"""OpenTelemetry spans of programs served over HTTP: a program span, a child span per call linked
to its DAG parent, and a tool_gap event per gap."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentrt.runtime.scheduling.predictor import ToolLatencyPredictor
from agentrt.serve.identity import Identity
from agentrt.serve.programs import EndReason, ProgramTable
from agentrt.serve.tracing import ProgramSpans


def test_a_program_of_two_calls_gives_one_program_span_two_linked_calls_and_a_gap_event() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans = ProgramSpans(provider)
    table = ProgramTable(ToolLatencyPredictor())
    first, _ = table.begin_call(Identity("p", "new"), now=0.0)
    spans.program_started(table.active["p"])
    spans.call_started(first)
    table.finish_call(first.call_id, now=1.0, service_time=0.5, context=None)
    spans.call_finished(first, ok=True)
    second, _ = table.begin_call(Identity("p", "inferred", first.call_id, 3), now=4.0, tool_names=("bash",))
    spans.tool_gap(table.active["p"], 3.0, ("bash",))
    spans.call_started(second)
    table.finish_call(second.call_id, now=5.0, service_time=0.5, context=None)
    spans.call_finished(second, ok=True)
    program = table.end_program("p", now=5.0, reason=EndReason.LAST_CALL)
    assert program is not None
    spans.program_ended(program)
    finished = {s.name: s for s in exporter.get_finished_spans() if s.name == "program http"}
    calls = [s for s in exporter.get_finished_spans() if s.name == "llm chat"]
    root = finished["program http"]
    assert len(calls) == 2 and all(c.parent is not None and c.parent.span_id == root.context.span_id for c in calls)
    assert [link.context.span_id for link in calls[1].links] == [calls[0].context.span_id]
    (gap,) = root.events
    assert gap.name == "tool_gap" and gap.attributes is not None and gap.attributes["agentrt.tool.gap"] == 3.0
    assert root.attributes is not None and root.attributes["agentrt.program.num_calls"] == 2
    assert (root.end_time or 0) - (root.start_time or 0) == 5_000_000_000
