"""`--replicas N --router R`: the command-line options that put engine replicas behind a router,
shared by `agentrt replay`, `bench` and `submit`."""

from __future__ import annotations

import argparse
from typing import Any

from agentrt.runtime.scheduling.routing import RouterName


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--replicas takes a whole number >= 1, got {text!r}")
    return value


def add_replica_args(parser: argparse.ArgumentParser, *, ray: bool = False) -> None:
    """Register --replicas and --router (and --ray, for commands that run on the wall clock)."""
    parser.add_argument("--replicas", type=_positive, default=1, metavar="N",
                        help="engine replicas behind a router (default 1; simulated replicas share one virtual clock)")
    parser.add_argument("--router", default=RouterName.AGENTRT.value, choices=[r.value for r in RouterName],
                        help="how calls are routed across replicas (default agentrt: KV affinity with a "
                             "re-prefill-cost escape, global attained-service priorities)")
    if ray:
        parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                            help="host each replica in a Ray actor (the simulator then runs on the wall clock); "
                                 "without ADDRESS: $RAY_ADDRESS, else a local Ray instance")


def replica_options(args: argparse.Namespace) -> dict[str, Any]:
    """`create_engine` keyword options for the parsed flags (none for one replica)."""
    if getattr(args, "replicas", 1) == 1:
        return {}
    return {"replicas": args.replicas, "router": args.router}
