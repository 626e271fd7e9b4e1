"""Benchmark and replay outputs: results.json, a Markdown table, a PNG plot, rich tables."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.table import Table

from agentrt.replay.bench import BenchResult, ratio
from agentrt.replay.driver import ReplayResult
from agentrt.replay.metrics import by_kind
from agentrt.replay.workload import Scaling


def _fmt(x: float, digits: int = 1) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def run_json(result: ReplayResult, *, programs: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"policy": result.policy, "rate": result.rate, "summary": result.summary.as_dict()}
    stats = result.engine_stats
    if stats is not None and hasattr(stats, "totals"):
        out["engine"] = stats.totals() if callable(stats.totals) else stats.totals
    elif stats is not None and hasattr(stats, "__dataclass_fields__"):
        out["engine"] = {k: v for k, v in asdict(stats).items() if not isinstance(v, (list, tuple))}
    kinds = by_kind(result.metrics)
    if kinds:
        out["by_kind"] = {kind: summary.as_dict() for kind, summary in kinds.items()}
    if programs:
        out["programs"] = [asdict(m) for m in result.metrics]
    return out


def short_kind(kind: str, width: int = 32) -> str:
    """A kind for a table cell. Kinds are agent names, or in replay a trace's provenance
    (`github:owner/repo@commit path`), shown as its first word without the host and commit."""
    words = kind.split()
    head = words[0].removeprefix("github:").split("@")[0] if words else kind
    return head if len(head) <= width else head[:width - 1] + "…"



def scaling_json(s: Scaling) -> dict[str, Any]:
    return {"token_scale_requested": s.requested, "token_scale_effective": s.scale, "max_context": s.max_context}


def summary_table(result: ReplayResult, title: str) -> Table:
    s = result.summary
    t = Table(title=title)
    t.add_column("metric")
    t.add_column("value", justify="right")
    rows = [("programs (failed)", f"{s.num_programs} ({s.num_failed})"),
            ("JCT mean / p50 / p95 / p99 (s)", f"{_fmt(s.mean_jct)} / {_fmt(s.p50_jct)} / {_fmt(s.p95_jct)} / {_fmt(s.p99_jct)}"),
            ("queueing delay mean / p95 (s)", f"{_fmt(s.mean_queueing_delay, 2)} / {_fmt(s.p95_queueing_delay, 2)}"),
            ("token latency mean / p95 (ms/token)", f"{_fmt(s.mean_token_latency * 1e3, 2)} / {_fmt(s.p95_token_latency * 1e3, 2)}"),
            ("makespan (s)", _fmt(s.makespan)),
            ("throughput (programs/s, tokens/s)", f"{_fmt(s.throughput_programs_s, 4)}, {_fmt(s.throughput_tokens_s, 0)}"),
            ("prefix-hit / recomputed tokens", f"{s.prefix_hit_tokens:,} / {s.recomputed_tokens:,}"),
            ("preemptions", f"{s.preemptions:,}")]
    for kind, ks in by_kind(result.metrics).items():
        rows.append((f"kind {short_kind(kind or '-')}",
                     f"{ks.num_programs} programs, JCT {_fmt(ks.mean_jct)} / p99 {_fmt(ks.p99_jct)} s"))
    for k, v in rows:
        t.add_row(k, v)
    return t


def worst_slowdown(result: ReplayResult, unloaded: ReplayResult | None) -> float:
    """Max over programs of JCT / the same trace program's unloaded JCT (nan without unloaded)."""
    if unloaded is None:
        return math.nan
    alone = {m.trace_id: m.jct for m in unloaded.metrics if m.status == "ok"}
    slowdowns = [m.jct / alone[m.trace_id] for m in result.metrics
                 if m.status == "ok" and alone.get(m.trace_id, 0) > 0]
    return max(slowdowns, default=math.nan)


def bench_rows(bench: BenchResult) -> list[dict[str, Any]]:
    rows = []
    for rate in bench.rates:
        base = next((r for r in bench.runs if r.policy == "fcfs" and r.rate == rate), None)
        oracle = next((r for r in bench.runs if r.policy == "oracle" and r.rate == rate), None)
        for r in (x for x in bench.runs if x.rate == rate):
            rows.append({"rate": rate, "policy": r.policy, "mean_jct": r.summary.mean_jct, "p95_jct": r.summary.p95_jct,
                         "p99_jct": r.summary.p99_jct, "worst_slowdown": worst_slowdown(r, bench.unloaded),
                         "mean_vs_fcfs": ratio(r.summary.mean_jct, base.summary.mean_jct) if base else math.nan,
                         "p95_vs_fcfs": ratio(r.summary.p95_jct, base.summary.p95_jct) if base else math.nan,
                         "mean_vs_oracle": ratio(r.summary.mean_jct, oracle.summary.mean_jct) if oracle else math.nan,
                         "mean_queueing": r.summary.mean_queueing_delay, "preemptions": r.summary.preemptions,
                         "prefix_hit_tokens": r.summary.prefix_hit_tokens})
    return rows


def bench_markdown(bench: BenchResult, header: str) -> str:
    lines = [header, ""]
    if bench.unloaded is not None:
        lines.append(f"Unloaded mean JCT (programs one at a time, fcfs): {bench.unloaded.summary.mean_jct:.1f} s. "
                     f"Knee (fcfs mean JCT >= 3x unloaded): "
                     f"{'%.4g programs/s' % bench.knee_rate if bench.knee_rate else 'not reached'}.")
        lines.append("")
    lines += ["| rate (programs/s) | policy | mean JCT (s) | p95 JCT (s) | p99 JCT (s) | mean vs fcfs | p95 vs fcfs "
              "| mean x oracle | worst slowdown | mean queueing (s) | preemptions |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in bench_rows(bench):
        lines.append(f"| {row['rate']:.4g} | {row['policy']} | {row['mean_jct']:.1f} | {row['p95_jct']:.1f} | "
                     f"{row['p99_jct']:.1f} | {row['mean_vs_fcfs']:.2f}x | {row['p95_vs_fcfs']:.2f}x | "
                     f"{row['mean_vs_oracle']:.2f}x | {_fmt(row['worst_slowdown'])} | {row['mean_queueing']:.1f} | "
                     f"{row['preemptions']} |")
    lines += ["", "`oracle` is a clairvoyant bound (it knows each program's remaining work from the trace), "
                  "not a deployable policy."]
    if bench.unloaded is not None:
        how = "bisected to 5%" if bench.capacities else "highest swept rate"
        lines += ["", f"| policy | capacity: highest rate with mean JCT <= 2x unloaded ({how}) | vs fcfs |",
                  "|---|---:|---:|"]
        fcfs_cap = bench.capacity("fcfs")
        for p in bench.policies:
            cap = bench.capacity(p)
            lines.append(f"| {p} | {cap:.4g} | {ratio(cap or 0.0, fcfs_cap or math.nan):.2f}x |")
    return "\n".join(lines) + "\n"


def bench_table(bench: BenchResult, title: str) -> Table:
    t = Table(title=title)
    for col in ("rate/s", "policy", "mean JCT s", "p99 JCT s", "mean vs fcfs", "p95 vs fcfs", "x oracle", "preemptions"):
        t.add_column(col, justify="right" if col != "policy" else "left")
    for row in bench_rows(bench):
        t.add_row(f"{row['rate']:.4g}", row["policy"], f"{row['mean_jct']:.1f}", f"{row['p99_jct']:.1f}",
                  f"{row['mean_vs_fcfs']:.2f}x", f"{row['p95_vs_fcfs']:.2f}x", f"{row['mean_vs_oracle']:.2f}x",
                  str(row["preemptions"]))
    return t


def write_plot(bench: BenchResult, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for policy in bench.policies:
        runs = sorted((r for r in bench.runs if r.policy == policy and r.rate is not None), key=lambda r: r.rate or 0)
        rates = [r.rate for r in runs]
        axes[0].plot(rates, [r.summary.mean_jct for r in runs], marker="o", label=policy)
        axes[1].plot(rates, [r.summary.p95_jct for r in runs], marker="o", label=policy)
    for ax, name in zip(axes, ("mean JCT (s)", "p95 JCT (s)")):
        ax.set_xlabel("arrival rate (programs/s)")
        ax.set_ylabel(name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        if bench.unloaded is not None:
            ax.axhline(bench.unloaded.summary.mean_jct, color="gray", ls=":", lw=1, label="unloaded mean")
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_bench(bench: BenchResult, out_dir: Path, config: dict[str, Any], title: str) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "results.json", "markdown": out_dir / "results.md", "plot": out_dir / "jct_vs_rate.png"}
    data = {"config": config,
            "unloaded": run_json(bench.unloaded) if bench.unloaded else None,
            "knee_rate": bench.knee_rate,
            "probes": [run_json(r, programs=False) for r in bench.probes],
            "capacity": {p: bench.capacity(p) for p in bench.policies} if bench.unloaded else None,
            "table": bench_rows(bench),
            "runs": [run_json(r) for r in bench.runs]}
    paths["json"].write_text(json.dumps(data, indent=1, default=str))
    paths["markdown"].write_text(bench_markdown(bench, f"### {title}"))
    write_plot(bench, paths["plot"], title)
    return paths


def write_replay(result: ReplayResult, path: Path, config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"config": config, **run_json(result)}, indent=1, default=str))


def policies_arg(text: str) -> Sequence[str]:
    return [p.strip() for p in text.split(",") if p.strip()]
