"""`--timeout` and `--deadline`, shared by submit, replay and bench: no run waits forever."""

from __future__ import annotations

import argparse

from agentrt.runtime.limits import RunLimits


def add_limit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="fail a program that runs longer than S seconds of runtime time (virtual on the sim)")
    p.add_argument("--deadline", type=float, default=None, metavar="S",
                   help="stop the whole run after S wall seconds: programs still running fail, finished "
                        "results are kept")


def run_limits(args: argparse.Namespace) -> RunLimits:
    """The limits the flags ask for. Raises ConfigError for a non-positive value."""
    return RunLimits(args.timeout, args.deadline)
