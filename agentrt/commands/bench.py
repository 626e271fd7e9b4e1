"""`agentrt bench TRACE`: every policy at every rate, side by side, in one run."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentrt.commands._common import add_workload_args, config_json, default_output, engine_options, load_workload
from agentrt.commands._failures import check_not_all_failed
from agentrt.commands._limits import add_limit_args, run_limits
from agentrt.commands._outputs import JsonLines, kept_on_exit, output_dir
from agentrt.exceptions import ConfigError
from agentrt.replay.bench import ALL_POLICIES, BenchSpec, default_jobs, run_bench
from agentrt.replay.driver import ReplayResult
from agentrt.replay.report import bench_table, policies_arg, run_json, write_bench
from agentrt.runtime.limits import DeadlineBudget


def add_parser(sub: Any) -> None:
    p = sub.add_parser("bench", help="compare scheduling policies on a trace across arrival rates",
                       description="Replay a trace under every policy at every rate with the same arrivals; "
                                   "write results.json, results.md and a PNG plot. Without --rates, find the "
                                   "knee: sweep up to the rate where fcfs mean JCT >= 3x unloaded, then bisect "
                                   "the knee and each policy's capacity to 5%%. The oracle policy is a "
                                   "clairvoyant bound, not a deployable policy.")
    add_workload_args(p)
    p.add_argument("--policies", default=",".join(ALL_POLICIES), help="comma-separated (default: all, with the oracle)")
    p.add_argument("--jobs", type=int, default=None,
                   help="worker processes for independent runs (simulator only; default: one per CPU)")
    p.add_argument("--no-bisect", action="store_true",
                   help="report the knee and capacities at the sweep's sqrt(2) resolution (fewer runs)")
    p.add_argument("--rates", default=None, help="comma-separated programs/s (default: find the knee)")
    p.add_argument("--output", type=Path, default=None,
                   help="output folder (default: results/bench-<time>); runs.jsonl there gets each run as it ends")
    add_limit_args(p)
    p.set_defaults(func=main)


def _rates(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--rates takes comma-separated numbers, got {text!r}") from None


def main(args: argparse.Namespace) -> int:
    programs, scaling = load_workload(args)
    opts = engine_options(args)
    limits = run_limits(args)
    jobs = args.jobs or (default_jobs() if args.engine == "sim" else 1)
    spec = BenchSpec(programs=programs, scaling=scaling, policies=policies_arg(args.policies), rates=_rates(args.rates),
                     seed=args.seed, engine=args.engine, engine_options=opts,
                     system_prompt_tokens=args.system_prompt_tokens, program_timeout=limits.program_timeout,
                     deadline=DeadlineBudget(limits.deadline), jobs=jobs, bisect=not args.no_bisect)
    out = output_dir(args.output or default_output("bench"))
    console = Console()
    with JsonLines(out / "runs.jsonl") as stream, _progress(console) as (planned, progress_done):

        def done(policy: str, r: ReplayResult) -> None:
            stream.write(run_json(r))
            progress_done(policy, r)
            rate = f"{r.rate:.4g}/s" if r.rate else "unloaded"
            check_not_all_failed(r, f"bench {policy} @ {rate}")

        with kept_on_exit(stream, "finished runs"):
            bench = run_bench(spec, on_run=done, on_plan=planned)
    title = (f"{Path(args.trace).name}: {len(programs)} programs, engine {args.engine} "
             f"{args.profile or args.model or ''}, token scale {scaling.scale:.4g}, seed {args.seed}"
             + (f", host KV tier {args.host_kv_gib:g} GiB" if args.host_kv_gib else ""))
    console.print(bench_table(bench, title))
    paths = write_bench(bench, out, config_json(args, programs, scaling) | {"policies": list(spec.policies)}, title)
    if bench.unloaded is not None:
        u = bench.unloaded.summary.mean_jct
        console.print(f"unloaded mean JCT {u:.1f} s; knee rate {bench.knee_rate}; capacity (mean JCT <= 2x unloaded): "
                      + ", ".join(f"{p} {bench.capacity(p):.4g}/s" for p in bench.policies))
    console.print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


@contextmanager
def _progress(console: Console) -> Iterator[tuple[Callable[[int], None], Callable[[str, ReplayResult], None]]]:
    """(planned, done) callbacks: a live bar on a terminal, one plain line per run when piped."""
    started = time.monotonic()
    total = [0, 0]  # done, planned

    def line(policy: str, r: ReplayResult) -> str:
        rate = f"{r.rate:.4g}/s" if r.rate else "unloaded"
        return f"{policy} @ {rate}: mean JCT {r.summary.mean_jct:.1f} s"

    if not console.is_terminal:
        def planned_plain(n: int) -> None:
            total[1] += n

        def done_plain(policy: str, r: ReplayResult) -> None:
            total[0] += 1
            print(f"[{total[0]}/{total[1]} {time.monotonic() - started:.0f}s] {line(policy, r)}", flush=True)

        yield planned_plain, done_plain
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("bench", total=0)

        def planned(n: int) -> None:
            progress.update(task, total=(progress.tasks[0].total or 0) + n)

        def done(policy: str, r: ReplayResult) -> None:
            progress.update(task, advance=1, description=f"bench {line(policy, r)}")

        yield planned, done
