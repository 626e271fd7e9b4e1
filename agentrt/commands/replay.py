"""`agentrt replay TRACE`: replay a trace under one policy; print a summary, write JSON."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentrt.commands._common import add_workload_args, config_json, default_output, engine_options, load_workload
from agentrt.commands._failures import check_not_all_failed
from agentrt.commands._limits import add_limit_args, run_limits
from agentrt.commands._outputs import JsonLines, kept_on_exit, output_file
from agentrt.engine_adapters.factory import create_engine, uses_virtual_time
from agentrt.replay.driver import ReplayResult, replay
from agentrt.replay.metrics import ProgramMetrics
from agentrt.replay.report import summary_table, write_replay
from agentrt.replay.workload import offline_arrivals, poisson_arrivals
from agentrt.runtime.scheduling.policies.config import PolicyName
from agentrt.runtime.runner import run


def add_parser(sub: Any) -> None:
    p = sub.add_parser("replay", help="replay a trace under one scheduling policy",
                       description="Replay a recorded agent workload against an engine under one policy.")
    add_workload_args(p)
    p.add_argument("--policy", default="agentrt", choices=[x.value for x in PolicyName])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--rate", type=float, default=None, help="Poisson arrivals, programs per second")
    mode.add_argument("--offline", action="store_true", help="all programs at once (reports makespan); the default")
    p.add_argument("--output", type=Path, default=None,
                   help="results JSON file (default results/replay-*.json); each finished program is also "
                        "written at once as a line of OUTPUT.programs.jsonl")
    add_limit_args(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    programs, scaling = load_workload(args)
    arrivals = poisson_arrivals(len(programs), args.rate, args.seed) if args.rate else offline_arrivals(len(programs))
    limits = run_limits(args)
    out = output_file(args.output or default_output("replay").with_suffix(".json"))
    with JsonLines(out.with_suffix(".programs.jsonl")) as stream, \
            Progress(TextColumn("replay {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                     transient=True) as progress:
        task = progress.add_task(args.policy, total=len(programs))

        def finished(m: ProgramMetrics) -> None:
            stream.write(asdict(m))
            progress.advance(task)

        async def go() -> ReplayResult:
            engine = create_engine(args.engine, **engine_options(args))
            return await replay(programs, engine, args.policy, arrivals, scaling, rate=args.rate,
                                system_prompt_tokens=args.system_prompt_tokens, on_finish=finished, limits=limits)

        with kept_on_exit(stream, "finished programs"):
            result = run(go, virtual_time=uses_virtual_time(args.engine))
    mode = f"rate {args.rate}/s" if args.rate else "offline"
    title = f"{args.trace}: {args.policy}, {mode}, {len(programs)} programs, token scale {scaling.scale:.4g}"
    Console().print(summary_table(result, title))
    config = config_json(args, programs, scaling) | {"policy": args.policy, "rate": args.rate, "offline": not args.rate}
    write_replay(result, out, config)
    Console().print(f"results: {out} (and one line per program in {stream.path})")
    check_not_all_failed(result, title)
    return 0
