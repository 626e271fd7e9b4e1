"""TracingObserver: spans checked with the SDK's in-memory exporter (count, parents, DAG links,
attributes, virtual-time timestamps) and metrics with the in-memory reader."""

from __future__ import annotations

import sys
from typing import Any

import anyio
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import agentrt
from agentrt.engine_adapters.testing import RecordingEngine
from agentrt.exceptions import ConfigError, UnknownNameError
from agentrt.runtime.tracing import TracingObserver, setup_otel
from agentrt.tools import bash

pytestmark = pytest.mark.anyio


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def ns(t: int | None) -> int:
    assert t is not None
    return t


class Traced:
    def __init__(self) -> None:
        self.spans_out = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans_out))
        self.metrics_in = InMemoryMetricReader()
        self.observer = TracingObserver(tracer_provider, MeterProvider(metric_readers=[self.metrics_in]))

    def spans(self) -> dict[str, ReadableSpan]:
        """Finished spans by call id (calls) or program id (programs)."""
        out = {}
        for span in self.spans_out.get_finished_spans():
            a = attrs(span)
            out[str(a.get("agentrt.call.id", a["agentrt.program.id"]))] = span
        return out

    def histogram(self, name: str) -> list[Any]:
        data = self.metrics_in.get_metrics_data()
        assert data is not None
        return [point for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
                if m.name == name for point in m.data.data_points]


@agentrt.program
async def summarize(text: str) -> str:
    return (await agentrt.llm(f"summarize {text}", max_tokens=2, name="sub")).text


@agentrt.program
async def fan_out_in() -> str:
    a, b = await agentrt.gather(agentrt.llm("left", max_tokens=3, name="left"),
                                agentrt.llm("right", max_tokens=3, name="right"))  # p1.1, p1.2
    result = await bash("exit 4")  # p1.3: after both branches
    sub = await summarize(a.text)  # p1.4: a sub-program (p2, its call p2.1)
    final = await agentrt.llm(f"{b.text} {result.exit_code} {sub}", max_tokens=5, name="reduce")  # p1.5
    return final.text


@pytest.mark.virtual_time
async def test_spans_follow_the_program_and_its_dag(anyio_backend: object) -> None:
    traced = Traced()
    async with agentrt.Runtime(engine=RecordingEngine(latency=0.25), observers=[traced.observer]) as rt:
        handle = rt.submit(fan_out_in)
        await handle
    spans = traced.spans()
    assert {k: s.name for k, s in spans.items()} == {
        "p1": "program fan_out_in", "p1.1": "llm left", "p1.2": "llm right", "p1.3": "tool bash",
        "p1.4": "program summarize", "p1.5": "llm reduce", "p2": "program summarize", "p2.1": "llm sub"}
    program, sub = spans["p1"], spans["p2"]
    assert program.parent is None
    assert sub.parent is not None and sub.parent.span_id == program.context.span_id
    for call_id in ("p1.1", "p1.2", "p1.3", "p1.4", "p1.5"):
        parent = spans[call_id].parent
        assert parent is not None and parent.span_id == program.context.span_id
    assert spans["p2.1"].parent is not None and spans["p2.1"].parent.span_id == sub.context.span_id
    assert {s.context.trace_id for s in spans.values()} == {program.context.trace_id}

    def linked(call_id: str) -> set[str]:
        ids = {s.context.span_id: k for k, s in spans.items()}
        return {ids[link.context.span_id] for link in spans[call_id].links}

    assert linked("p1.1") == linked("p1.2") == set()
    assert linked("p1.3") == {"p1.1", "p1.2"}  # the fan-in
    assert linked("p1.4") == {"p1.3"} and linked("p1.5") == {"p1.4"}
    assert attrs(spans["p1.3"])["agentrt.call.parent_ids"] == ("p1.1", "p1.2")

    # times are the runtime's (virtual) clock: each LLM call takes 0.25 s, bash its real time
    left, tool, reduce = spans["p1.1"], spans["p1.3"], spans["p1.5"]
    assert ns(left.end_time) - ns(left.start_time) == 250_000_000
    assert ns(tool.start_time) - ns(program.start_time) == 250_000_000
    tool_ns = ns(tool.end_time) - ns(tool.start_time)
    assert tool_ns == pytest.approx(handle.record.calls["p1.3"].tool_time * 1e9, abs=1000) and tool_ns > 0
    assert ns(reduce.end_time) - ns(program.start_time) == pytest.approx(750_000_000 + tool_ns, abs=1000)
    assert program.end_time == reduce.end_time

    # ATLAS priorities along the DAG (critical-path service of the parents; the sub-program's call
    # inherits its caller's), and the services the program spans sum up: 0.25 s per LLM call
    assert {k: attrs(s)["agentrt.call.priority"] for k, s in spans.items() if "." in k} == {
        "p1.1": 0.0, "p1.2": 0.0, "p1.3": 0.25, "p1.4": 0.25, "p1.5": 0.5, "p2.1": 0.25}
    assert attrs(spans["p1.4"])["agentrt.program.critical_path_service"] == 0.25
    assert (attrs(program)["agentrt.program.attained_service"], attrs(program)["agentrt.program.critical_path_service"],
            attrs(sub)["agentrt.program.attained_service"], attrs(sub)["agentrt.program.jct"]) == (1.0, 0.75, 0.25, 0.25)


async def test_span_attributes(anyio_backend: object) -> None:
    traced = Traced()
    async with agentrt.Runtime(engine=RecordingEngine(), observers=[traced.observer]) as rt:
        handle = rt.submit(fan_out_in)
        await handle
    spans = traced.spans()
    reduce = handle.record.calls["p1.5"]
    assert attrs(spans["p1.5"]) == {  # what the engine answered (RecordingEngine: no wait, no cache, no service)
        "agentrt.program.id": "p1", "agentrt.call.id": "p1.5", "agentrt.call.kind": "llm",
        "agentrt.call.name": "reduce", "agentrt.call.priority": 0.0, "agentrt.call.parent_ids": ("p1.4",),
        "agentrt.call.status": "done", "agentrt.llm.queue_wait": 0.0,
        "agentrt.llm.prefill_tokens": reduce.prefill_tokens, "agentrt.llm.cached_tokens": 0,
        "agentrt.llm.decode_tokens": 5, "agentrt.llm.pinned": False, "agentrt.llm.service_time": 0.0,
        "agentrt.llm.preemptions": 0}
    assert reduce.prefill_tokens > 0
    tool = attrs(spans["p1.3"])
    assert tool == {"agentrt.program.id": "p1", "agentrt.call.id": "p1.3", "agentrt.call.kind": "tool",
                    "agentrt.call.name": "bash", "agentrt.call.priority": 0.0,
                    "agentrt.call.parent_ids": ("p1.1", "p1.2"), "agentrt.call.status": "done",
                    "agentrt.tool.name": "bash", "agentrt.tool.exit_status": "ok",
                    "agentrt.tool.time": handle.record.calls["p1.3"].tool_time, "agentrt.tool.exit_code": 4}
    program = attrs(spans["p1"])
    assert (program["agentrt.program.name"], program["agentrt.program.parent_id"], program["agentrt.program.status"],
            program["agentrt.program.num_calls"], program["agentrt.program.jct"]) == (
        "fan_out_in", "", "ok", 5, handle.record.jct)
    sub = attrs(spans["p2"])
    assert (sub["agentrt.program.name"], sub["agentrt.program.parent_id"], sub["agentrt.program.num_calls"]) == (
        "summarize", "p1", 1)


async def test_metrics_record_jct_and_queue_wait(anyio_backend: object) -> None:
    traced = Traced()
    async with agentrt.Runtime(engine=RecordingEngine(), observers=[traced.observer]) as rt:
        await rt.wait([rt.submit(fan_out_in) for _ in range(3)])
    jct = traced.histogram("agentrt.program.jct")
    assert sum(p.count for p in jct) == 6  # 3 programs and their 3 sub-programs
    top = [p for p in jct if p.attributes["agentrt.program.top_level"]]
    assert sum(p.count for p in top) == 3
    assert sum(p.count for p in traced.histogram("agentrt.call.queue_wait")) == 12  # 4 LLM calls each


@agentrt.tool(timeout=1.0)
async def hangs() -> None:
    await anyio.sleep_forever()


@agentrt.program
async def fails_with_a_tool_in_flight() -> None:
    hangs()  # never awaited: cancelled when the program fails
    await anyio.sleep(0.1)
    raise ValueError("boom")


@agentrt.program
async def times_out() -> None:
    await hangs()


async def test_failures_and_cancelled_calls_are_recorded(anyio_backend: object) -> None:
    traced = Traced()
    async with agentrt.Runtime(engine=RecordingEngine(), observers=[traced.observer]) as rt:
        await rt.wait([rt.submit(fails_with_a_tool_in_flight), rt.submit(times_out)], return_exceptions=True)
    spans = traced.spans()
    assert sorted(spans) == ["p1", "p1.1", "p2", "p2.1"]  # every span ended
    failed = spans["p1"]
    assert failed.status.status_code is StatusCode.ERROR and "boom" in (failed.status.description or "")
    event = failed.events[0]
    assert event.name == "exception" and "ValueError" in str(dict(event.attributes or {})["exception.stacktrace"])
    assert attrs(spans["p1.1"])["agentrt.call.status"] == "cancelled"
    assert attrs(spans["p2.1"])["agentrt.tool.exit_status"] == "timeout"


def test_setup_otel_choices() -> None:
    assert setup_otel("none").observers == []
    console = setup_otel("console")
    assert isinstance(console.observer, TracingObserver)
    console.shutdown()
    with pytest.raises(UnknownNameError, match="valid otel exporters: none, console, otlp"):
        setup_otel("jaeger")


def test_otlp_without_the_exporter_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    for proto in ("grpc", "http"):  # as if opentelemetry-exporter-otlp were not installed
        monkeypatch.setitem(sys.modules, f"opentelemetry.exporter.otlp.proto.{proto}.trace_exporter", None)
    with pytest.raises(ConfigError, match=r"pip install 'agentrt\[otlp\]'"):
        setup_otel("otlp")


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_otlp_exporters_follow_the_protocol_variable(monkeypatch: pytest.MonkeyPatch, protocol: str) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    otel = setup_otel("otlp")
    assert isinstance(otel.observer, TracingObserver)
    otel.shutdown()  # nothing recorded: nothing to send
