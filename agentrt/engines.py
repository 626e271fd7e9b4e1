"""Build the engine a user asked for on the command line (`--engine`, `--model`, `--policy`,
`--replicas`, `--router`): shared by the example scripts (`engine_from_argv`) and the CLI's
`replay`, `bench`, `serve` and `submit`.

`sim` (the simulated GPU) and `recording` (answers every call at once: checks a program's logic)
run on trio with a virtual clock; `vllm` runs on asyncio and the wall clock. Engines are built
inside the event loop (some hold anyio primitives), so this module hands out factories.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from agentrt.engine_adapters.base import Engine, Responder
from agentrt.engine_adapters.factory import uses_virtual_time
from agentrt.exceptions import UnknownNameError
from agentrt.runtime.runner import run
from agentrt.runtime.scheduling.policies.config import PolicyName
from agentrt.runtime.scheduling.routing import RouterName

ENGINES = ("sim", "vllm", "recording")
T = TypeVar("T")


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
    # The clairvoyant router is a bound: it needs the remaining work only trace replay knows.
    routers = [r.value for r in RouterName if not (ray and r is RouterName.CLAIRVOYANT)]
    parser.add_argument("--router", default=RouterName.AGENTRT.value, choices=routers,
                        help="how calls are routed across replicas (default agentrt: KV affinity with a "
                             "re-prefill-cost escape, global attained-service priorities"
                             + ("" if ray else "; clairvoyant: a bound that knows each program's remaining work")
                             + ")")
    if ray:
        parser.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                            help="host each replica in a Ray actor (the simulator then runs on the wall clock); "
                                 "without ADDRESS: $RAY_ADDRESS, else a local Ray instance")


def replica_options(args: argparse.Namespace) -> dict[str, Any]:
    """`create_engine` keyword options for the parsed flags (none for one replica)."""
    if getattr(args, "replicas", 1) == 1:
        return {}
    return {"replicas": args.replicas, "router": args.router}


def make_engine(name: str, *, model: str | None = None, profile: str | None = None,
                responder: Responder | None = None, replicas: int = 1, router: str = "agentrt",
                ray: str | None = None) -> Engine:
    """The engine called `name`; call it inside the event loop. `responder` writes the answers of
    `sim` and `recording` (default: filler text); vLLM's model writes its own. `profile` is the
    simulator's model and GPU (default: Llama-3.1-8B on one H100). `replicas` > 1 puts that many
    behind `router`; `ray` (a cluster address, or "local") hosts each in a Ray actor.

    Raises UnknownNameError for an unknown engine, ConfigError for vllm without a model, and
    ImportError when vllm is not installed."""
    if ray is not None:
        from agentrt.engine_adapters.ray import ray_replicas

        opts = {"model": model} if name == "vllm" else {"profile": profile, "responder": responder}
        return ray_replicas(replicas, name, router, address=None if ray == "local" else ray, **opts)
    if name == "recording":
        from agentrt.engine_adapters.testing import RecordingEngine

        if replicas != 1:
            from agentrt.engine_adapters.replicas import ReplicatedEngine

            return ReplicatedEngine([RecordingEngine(responder=responder, record=False) for _ in range(replicas)], router)
        return RecordingEngine(responder=responder, record=False)
    if name not in ENGINES:
        raise UnknownNameError("engine", name, ENGINES)
    from agentrt.engine_adapters.factory import create_engine

    scale: dict[str, Any] = {"replicas": replicas, "router": router} if replicas != 1 else {}
    if name == "vllm":
        return create_engine(name, model=model, **scale)
    return create_engine(name, profile=profile, responder=responder, **scale)


def add_engine_args(parser: argparse.ArgumentParser) -> None:
    """Register --engine, --model, --profile, --policy, --replicas and --router."""
    parser.add_argument("--engine", default="sim", choices=ENGINES,
                        help="sim: simulated GPU on virtual time (default); vllm: real vLLM (needs --model); "
                             "recording: answers at once, to check a program's logic")
    parser.add_argument("--model", default=None, metavar="DIR", help="model folder for --engine vllm")
    parser.add_argument("--profile", default=None, help="simulator profile (default llama-3.1-8b-h100)")
    parser.add_argument("--policy", default=PolicyName.AGENTRT.value, choices=[p.value for p in PolicyName],
                        help="scheduling policy (default: agentrt)")
    add_replica_args(parser, ray=True)


@dataclass(slots=True, frozen=True)
class EngineChoice:
    """An engine picked on the command line, and the policy to run it with."""

    engine: str
    policy: str
    model: str | None = None
    profile: str | None = None
    responder: Responder | None = None
    replicas: int = 1
    router: str = "agentrt"
    ray: str | None = None

    @property
    def virtual_time(self) -> bool:
        return uses_virtual_time(self.engine) and self.ray is None

    def create(self) -> Engine:
        """Build the engine (inside the event loop). Raises like make_engine."""
        return make_engine(self.engine, model=self.model, profile=self.profile, responder=self.responder,
                           replicas=self.replicas, router=self.router, ray=self.ray)

    def run(self, main: Callable[[Engine, str], Awaitable[T]]) -> T:
        """`main(engine, policy)` on the right event loop and clock; returns its result."""
        async def start() -> T:
            return await main(self.create(), self.policy)

        return run(start, virtual_time=self.virtual_time)


def engine_from_argv(argv: Sequence[str] | None, *, responder: Responder | None = None,
                     description: str | None = None) -> EngineChoice:
    """Parse `--engine/--model/--profile/--policy/--no-responder` (for example scripts). `--no-responder`
    leaves the simulated model's answers as filler text."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_engine_args(parser)
    parser.add_argument("--no-responder", action="store_true", help="let the simulator answer with filler text")
    args: Any = parser.parse_args(argv)
    return EngineChoice(args.engine, args.policy, args.model, args.profile, None if args.no_responder else responder,
                        args.replicas, args.router, args.ray)
