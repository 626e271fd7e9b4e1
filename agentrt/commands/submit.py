"""`agentrt submit FILE:PROGRAM`: run many instances of a program and report on them.

    agentrt submit examples/swe_agent.py:swe_agent --inputs tasks.jsonl --rate 2 --output out.jsonl

Exit status: 0 when every instance finished ok, 1 when some failed (the top causes are named),
2 for bad input, 130 when interrupted, 143 on SIGTERM (the results file keeps every instance that
finished). --timeout and --deadline bound how long a program and the run may take.
"""

from __future__ import annotations

import argparse
from functools import partial
from itertools import cycle, islice
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console

from agentrt.commands._exit import expected
from agentrt.commands._failures import failure_causes, top_causes
from agentrt.commands._limits import add_limit_args, run_limits
from agentrt.commands._outputs import output_file
from agentrt.exceptions import AllProgramsFailedError, ConfigError
from agentrt.runtime.runner import run
from agentrt.runtime.tracing import OTEL_EXPORTERS, setup_otel
from agentrt.submit.driver import SubmitPlan, run_plan
from agentrt.engines import EngineChoice, Responder, add_engine_args
from agentrt.submit.loader import check_arguments, load_program, read_inputs
from agentrt.submit.report import ProgressReporter, summarize, summary_table
from agentrt.submit.results import ResultLine, ResultsWriter


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser("submit", help="run instances of an agent program and summarize them",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="FILE:PROGRAM", help="a Python file and the @agentrt.program in it")
    p.add_argument("--inputs", metavar="FILE", help="JSON Lines: one object of keyword arguments per instance")
    p.add_argument("--n", type=int, default=None, metavar="N",
                   help="number of instances (default: one per inputs line, or 1); cycles the inputs")
    p.add_argument("--rate", type=float, default=None, metavar="R",
                   help="Poisson arrivals, R programs per second (default: all at once)")
    p.add_argument("--seed", type=int, default=0, help="seed of the arrival times (default 0)")
    add_engine_args(p)
    p.add_argument("--responder", metavar="NAME",
                   help="a function in FILE, request -> text, that writes the simulated model's answers")
    p.add_argument("--output", metavar="FILE", help="JSON Lines results, one line per finished instance")
    p.add_argument("--otel", default="none", choices=OTEL_EXPORTERS,
                   help="OpenTelemetry export of spans and metrics (otlp: set OTEL_EXPORTER_OTLP_ENDPOINT)")
    add_limit_args(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=submit)


def submit(args: argparse.Namespace) -> int:
    module, program = load_program(args.target)
    plan = SubmitPlan(program, tuple(_instances(args, program)), args.rate, args.seed)
    choice = EngineChoice(args.engine, args.policy, args.model, args.profile,
                          _responder(module, args.responder, args.target), args.replicas, args.router, args.ray)
    limits = run_limits(args)
    writer = ResultsWriter(output_file(Path(args.output)) if args.output else None)
    otel = setup_otel(args.otel)
    lines: list[ResultLine] = []

    def on_result(line: ResultLine) -> None:
        lines.append(line)
        writer.write(line)
        progress.finished(line)

    title = f"{program.name} on {args.engine} ({args.policy})"
    try:
        with ProgressReporter(len(plan.inputs), enabled=not args.no_progress) as progress:
            run(partial(run_plan, plan, choice.create, args.policy, observers=otel.observers,
                        on_result=on_result, limits=limits), virtual_time=choice.virtual_time)
    except BaseException as exc:  # the summary says the run was stopped; the CLI reports why
        if isinstance(expected(exc), KeyboardInterrupt):
            title += ": interrupted"
        raise
    finally:
        writer.close()
        otel.shutdown()
        Console().print(summary_table(summarize(lines, len(plan.inputs)), title))
        if args.output:
            Console().print(f"results: {args.output}")
    failed = [r for r in lines if r.status != "ok"]
    if failed and len(failed) == len(lines):
        raise AllProgramsFailedError(title, failure_causes(r.error or r.status for r in failed))
    if failed:
        Console(stderr=True).print(f"{len(failed)} programs failed; top causes: {top_causes(r.error or r.status for r in failed)}",
                                   markup=False, highlight=False)
    return 1 if failed else 0


def _instances(args: argparse.Namespace, program: Any) -> list[dict[str, Any]]:
    if args.n is not None and args.n <= 0:
        raise ConfigError(f"--n {args.n}: give a positive number of instances")
    if args.inputs:
        inputs = read_inputs(args.inputs, program)
        if not inputs:
            raise ConfigError(f"{args.inputs} has no inputs lines")
        return list(islice(cycle(inputs), args.n)) if args.n is not None else inputs
    check_arguments(program, {})
    return [{} for _ in range(args.n or 1)]


def _responder(module: ModuleType, name: str | None, target: str) -> Responder | None:
    if name is None:
        return None
    fn = getattr(module, name, None)
    if not callable(fn):
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                       and getattr(v, "__module__", None) == module.__name__)
        raise ConfigError(f"--responder {name!r}: no such function in {target.rpartition(':')[0]}; "
                          f"functions there: {', '.join(found) or 'none'}")
    return fn  # type: ignore[no-any-return]
