"""`agentrt replay TRACE`: replay a trace under one policy; print a summary, write JSON."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentrt.commands._common import add_workload_args, config_json, default_output, engine_options, load_workload
from agentrt.engine_adapters.factory import create_engine, uses_virtual_time
from agentrt.replay.driver import ReplayResult, replay
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
    p.add_argument("--output", type=Path, default=None, help="results JSON file (default results/replay-*.json)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    programs, scaling = load_workload(args)
    arrivals = poisson_arrivals(len(programs), args.rate, args.seed) if args.rate else offline_arrivals(len(programs))
    with Progress(TextColumn("replay {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  transient=True) as progress:
        task = progress.add_task(args.policy, total=len(programs))

        async def go() -> ReplayResult:
            engine = create_engine(args.engine, **engine_options(args))
            return await replay(programs, engine, args.policy, arrivals, scaling, rate=args.rate,
                                system_prompt_tokens=args.system_prompt_tokens,
                                on_finish=lambda _: progress.advance(task))

        result = run(go, virtual_time=uses_virtual_time(args.engine))
    mode = f"rate {args.rate}/s" if args.rate else "offline"
    Console().print(summary_table(result, f"{args.trace}: {args.policy}, {mode}, {len(programs)} programs, "
                                          f"token scale {scaling.scale:.4g}"))
    out = args.output or default_output("replay").with_suffix(".json")
    config = config_json(args, programs, scaling) | {"policy": args.policy, "rate": args.rate, "offline": not args.rate}
    write_replay(result, out, config)
    Console().print(f"results: {out}")
    return 0
