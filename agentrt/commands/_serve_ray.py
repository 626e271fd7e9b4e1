"""`agentrt serve --replicas N --ray [ADDRESS]`: the server's engine replicas hosted by Ray.

The server (agentrt's FastAPI app, `agentrt.serve.app`) runs the router in front; each replica
runs in a Ray actor: a simulator on the wall clock, or vLLM with agentrt's scheduler plugin. For
vLLM the model writes the answers (`ServeOptions.engine_answers`): the conversation goes to it
through its chat template. vLLM's own OpenAI server (`--engine vllm` without `--ray`) serves one
engine; its replicas need a router in front, which is this server.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentrt.engine_adapters.base import Engine
from agentrt.exceptions import ConfigError


def check_ray_args(args: argparse.Namespace) -> None:
    """Raise ConfigError for flags that do not go with --ray."""
    if args.time_scale != 1.0:
        raise ConfigError(f"--time-scale {args.time_scale} with --ray: Ray replicas run on their own wall clocks; "
                          "drop --time-scale (or --ray, for simulated replicas on a scaled clock)")
    if args.engine == "vllm":
        if not args.model:
            raise ConfigError("--engine vllm needs --model DIR (a Hugging Face model folder; "
                              "`agentrt model tiny DIR` writes a tiny test model)")
        if args.responder:
            raise ConfigError("--responder is for the simulator: with --engine vllm the model writes the answers")
        if args.vllm_args:
            raise ConfigError("arguments after -- are for vLLM's own server (--engine vllm without --ray); "
                              f"with --ray they have no place: {' '.join(args.vllm_args)}")


def ray_engine(args: argparse.Namespace, profile: str, responder: Any) -> Callable[[], Engine]:
    """A factory (called inside the server's loop) of `args.replicas` engines on Ray behind `args.router`."""
    from agentrt.engine_adapters.ray import ray_replicas

    address = None if args.ray == "local" else args.ray
    options: dict[str, Any]
    if args.engine == "vllm":
        options = {"model": str(Path(args.model).expanduser())}
        if args.num_gpu_blocks:
            options["num_gpu_blocks_override"] = args.num_gpu_blocks
    else:
        options = {"profile": profile, "responder": responder}
        if args.num_gpu_blocks:
            options["num_gpu_blocks"] = args.num_gpu_blocks
    return lambda: ray_replicas(args.replicas, args.engine, args.router, address=address, **options)
