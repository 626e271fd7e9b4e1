"""The `agentrt` command line. Each subcommand lives in `agentrt/commands/<name>.py` and provides
`add_parser(subparsers)` (registering its arguments and `func`) so this file stays a table."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from agentrt.commands._exit import exit_status
from agentrt.commands._signals import sigterm_as_interrupt

COMMANDS = ("replay", "bench", "submit", "model", "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentrt", description="Serving runtime for agentic LLM programs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"agentrt.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"agentrt.commands.{name}":
                raise
            continue
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; returns the exit status (see `agentrt/commands/_exit.py`)."""
    args = build_parser().parse_args(argv)
    with sigterm_as_interrupt() as received:
        try:
            return int(args.func(args) or 0)
        except BaseException as exc:  # reported in one line, or re-raised when unexpected
            return exit_status(args.command, exc, received)


if __name__ == "__main__":
    sys.exit(main())
