"""`--replicas N --router R`: the command-line options that put engine replicas behind a router,
shared by `agentrt replay`, `bench` and `submit`."""

from __future__ import annotations

import argparse
from typing import Any

from agentrt.runtime.routing import RouterName


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--replicas takes a whole number >= 1, got {text!r}")
    return value


def add_replica_args(parser: argparse.ArgumentParser) -> None:
    """Register --replicas and --router."""
    parser.add_argument("--replicas", type=_positive, default=1, metavar="N",
                        help="engine replicas behind a router (default 1; simulated replicas share one virtual clock)")
    parser.add_argument("--router", default=RouterName.AGENTRT.value, choices=[r.value for r in RouterName],
                        help="how calls are routed across replicas (default agentrt: KV affinity with a "
                             "re-prefill-cost escape, global attained-service priorities)")


def replica_options(args: argparse.Namespace) -> dict[str, Any]:
    """`create_engine` keyword options for the parsed flags (none for one replica)."""
    if getattr(args, "replicas", 1) == 1:
        return {}
    return {"replicas": args.replicas, "router": args.router}
