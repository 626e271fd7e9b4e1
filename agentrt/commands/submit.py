"""`agentrt submit FILE:PROGRAM`: run many instances of a program and report on them.

    agentrt submit examples/swe_agent.py:swe_agent --inputs tasks.jsonl --rate 2 --output out.jsonl

Exit status: 0 when every instance finished ok, 1 when some failed, 2 for bad input, 130 when
interrupted (the results file keeps every instance that finished).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from functools import partial
from itertools import cycle, islice
from types import ModuleType
from typing import Any

from rich.console import Console

from agentrt.exceptions import AgentRTError, ConfigError
from agentrt.runtime.runner import run
from agentrt.runtime.tracing import OTEL_EXPORTERS, setup_otel
from agentrt.submit.driver import SubmitPlan, run_plan
from agentrt.submit.engines import EngineChoice, Responder, add_engine_args
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=submit)


def submit(args: argparse.Namespace) -> int:
    module, program = load_program(args.target)
    plan = SubmitPlan(program, tuple(_instances(args, program)), args.rate, args.seed)
    choice = EngineChoice(args.engine, args.policy, args.model, args.profile,
                          _responder(module, args.responder, args.target), args.replicas, args.router)
    otel = setup_otel(args.otel)
    writer = ResultsWriter(args.output)
    lines: list[ResultLine] = []

    def on_result(line: ResultLine) -> None:
        lines.append(line)
        writer.write(line)
        progress.finished(line)

    title = f"{program.name} on {args.engine} ({args.policy})"
    try:
        with ProgressReporter(len(plan.inputs), enabled=not args.no_progress) as progress:
            _run_unwrapped(partial(run_plan, plan, choice.create, args.policy, observers=otel.observers,
                                   on_result=on_result), choice.virtual_time)
    except KeyboardInterrupt:
        title += ": interrupted"
        raise
    finally:
        writer.close()
        otel.shutdown()
        Console().print(summary_table(summarize(lines, len(plan.inputs)), title))
        if args.output:
            Console().print(f"results: {args.output}")
    return 0 if all(r.status == "ok" for r in lines) else 1


def _run_unwrapped(main: Callable[[], Awaitable[None]], virtual_time: bool) -> None:
    """Run `main`; an interrupt or an agentrt error arrives wrapped in the task groups' exception
    groups, and is raised as itself so the CLI reports it plainly."""
    try:
        run(main, virtual_time=virtual_time)
    except BaseExceptionGroup as group:
        for kind in (KeyboardInterrupt, AgentRTError):
            if (found := group.subgroup(kind)) is not None:
                raise _first_leaf(found) from None
        raise


def _first_leaf(group: BaseExceptionGroup[BaseException]) -> BaseException:
    first = group.exceptions[0]
    return _first_leaf(first) if isinstance(first, BaseExceptionGroup) else first


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
