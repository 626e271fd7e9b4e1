"""What `agentrt submit` shows: a progress bar while it runs, a summary table at the end."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentrt.submit.results import ResultLine


@dataclass(slots=True, frozen=True)
class Summary:
    """Totals over finished instances. JCTs and makespan in runtime seconds (virtual on the sim)."""

    num_submitted: int
    num_ok: int
    num_failed: int
    num_cancelled: int
    mean_jct: float
    p50_jct: float
    p95_jct: float
    makespan: float
    throughput: float  # finished programs per second of makespan
    num_calls: int

    @property
    def num_finished(self) -> int:
        return self.num_ok + self.num_failed + self.num_cancelled


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 100]); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summarize(lines: Sequence[ResultLine], num_submitted: int) -> Summary:
    jcts = [r.jct for r in lines]
    makespan = (max(r.finish for r in lines) - min(r.start for r in lines)) if lines else 0.0
    count = {s: sum(r.status == s for r in lines) for s in ("ok", "failed", "cancelled")}
    return Summary(num_submitted, count["ok"], count["failed"], count["cancelled"],
                   sum(jcts) / len(jcts) if jcts else math.nan, percentile(jcts, 50), percentile(jcts, 95),
                   makespan, len(lines) / makespan if makespan > 0 else math.nan, sum(r.num_calls for r in lines))


def summary_table(s: Summary, title: str) -> Table:
    table = Table(title=title, show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [("finished / submitted", f"{s.num_finished} / {s.num_submitted}"), ("ok", str(s.num_ok)),
            ("failed", str(s.num_failed)), ("cancelled", str(s.num_cancelled)),
            ("JCT mean (s)", f"{s.mean_jct:.3f}"), ("JCT p50 (s)", f"{s.p50_jct:.3f}"),
            ("JCT p95 (s)", f"{s.p95_jct:.3f}"), ("makespan (s)", f"{s.makespan:.3f}"),
            ("throughput (programs/s)", f"{s.throughput:.3f}"), ("calls", str(s.num_calls))]
    for row in rows:
        table.add_row(*row)
    return table


class ProgressReporter:
    """A rich progress bar on stderr counting finished instances (and how many failed)."""

    def __init__(self, total: int, *, enabled: bool = True) -> None:
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("ok {task.fields[ok]} failed {task.fields[failed]}"),
                                 TimeElapsedColumn(), console=Console(stderr=True), disable=not enabled)
        self.task = self.progress.add_task("programs", total=total, ok=0, failed=0)
        self.ok = self.failed = 0

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def finished(self, line: ResultLine) -> None:
        self.ok += line.status == "ok"
        self.failed += line.status != "ok"
        self.progress.update(self.task, advance=1, ok=self.ok, failed=self.failed)
