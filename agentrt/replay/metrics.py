"""Per-program metrics of a replay and their summary (frozen dataclasses)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from agentrt.programs.records import CallKind, ProgramRecord, ProgramStatus


@dataclass(slots=True, frozen=True)
class ProgramMetrics:
    """One replayed program. token_latency: JCT / generated tokens (Autellix's program-level
    token latency). queueing_delay: summed engine queue wait of its LLM calls."""

    trace_id: str
    program_id: str
    status: str
    arrival: float
    finish: float
    jct: float
    queueing_delay: float
    token_latency: float
    generated_tokens: int
    prompt_tokens: int
    prefix_hit_tokens: int
    recomputed_tokens: int
    preemptions: int
    num_llm_calls: int
    pinned_calls: int
    service: float
    error: str | None = None  # `Type: message` of what stopped a failed program
    kind: str | None = None  # which agent: its `@program` name (in replay, the trace's `source`)

    @classmethod
    def of(cls, trace_id: str, rec: ProgramRecord) -> ProgramMetrics:
        llm = [c for c in rec.calls.values() if c.kind is CallKind.LLM]
        generated = sum(c.decode_tokens for c in llm)
        return cls(trace_id=trace_id, program_id=rec.program_id, status=rec.status.value, arrival=rec.start,
                   finish=rec.finish if rec.finish is not None else math.nan, jct=rec.jct,
                   queueing_delay=sum(c.queue_wait for c in llm),
                   token_latency=rec.jct / generated if generated else math.nan, generated_tokens=generated,
                   prompt_tokens=sum(c.prefill_tokens + c.cached_tokens for c in llm),
                   prefix_hit_tokens=sum(c.cached_tokens for c in llm),
                   recomputed_tokens=sum(c.recomputed_tokens for c in llm),
                   preemptions=sum(c.preemptions for c in llm), num_llm_calls=len(llm),
                   pinned_calls=sum(c.pinned for c in llm), service=rec.attained_service, error=rec.error,
                   kind=rec.name)


@dataclass(slots=True, frozen=True)
class Summary:
    """Over the programs that finished ok. Throughputs are per second of makespan."""

    num_programs: int
    num_failed: int
    mean_jct: float
    p50_jct: float
    p95_jct: float
    p99_jct: float
    mean_queueing_delay: float
    p95_queueing_delay: float
    mean_token_latency: float
    p95_token_latency: float
    makespan: float
    throughput_programs_s: float
    throughput_tokens_s: float
    prefix_hit_tokens: int
    recomputed_tokens: int
    preemptions: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize(metrics: Sequence[ProgramMetrics]) -> Summary:
    ok = [m for m in metrics if m.status == ProgramStatus.OK.value]
    jct = np.array([m.jct for m in ok]) if ok else np.array([math.nan])
    queue = np.array([m.queueing_delay for m in ok]) if ok else np.array([math.nan])
    tl = np.array([m.token_latency for m in ok if not math.isnan(m.token_latency)]) if ok else np.array([math.nan])
    start = min((m.arrival for m in metrics), default=0.0)
    end = max((m.finish for m in ok), default=start)
    makespan = end - start
    tokens = sum(m.generated_tokens for m in ok)
    pct = lambda a, q: float(np.percentile(a, q)) if a.size else math.nan  # noqa: E731
    return Summary(num_programs=len(metrics), num_failed=len(metrics) - len(ok),
                   mean_jct=float(jct.mean()), p50_jct=pct(jct, 50), p95_jct=pct(jct, 95), p99_jct=pct(jct, 99),
                   mean_queueing_delay=float(queue.mean()), p95_queueing_delay=pct(queue, 95),
                   mean_token_latency=float(tl.mean()) if tl.size else math.nan, p95_token_latency=pct(tl, 95),
                   makespan=makespan, throughput_programs_s=len(ok) / makespan if makespan > 0 else math.nan,
                   throughput_tokens_s=tokens / makespan if makespan > 0 else math.nan,
                   prefix_hit_tokens=sum(m.prefix_hit_tokens for m in metrics),
                   recomputed_tokens=sum(m.recomputed_tokens for m in metrics),
                   preemptions=sum(m.preemptions for m in metrics))


def by_kind(metrics: Sequence[ProgramMetrics]) -> dict[str, Summary]:
    """Kind -> the summary of its programs, when the run has programs of more than one kind
    (a mixed workload: what the scheduler does for each agent); else empty."""
    kinds = sorted({m.kind or "" for m in metrics})
    if len(kinds) < 2:
        return {}
    return {kind: summarize([m for m in metrics if (m.kind or "") == kind]) for kind in kinds}
