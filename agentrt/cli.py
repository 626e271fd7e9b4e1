"""The `agentrt` command line. Each subcommand lives in `agentrt/commands/<name>.py` and provides
`add_parser(subparsers)` (registering its arguments and `func`) so this file stays a table."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from agentrt.exceptions import AgentRTError

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
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AgentRTError as exc:
        print(f"agentrt {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"agentrt {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
