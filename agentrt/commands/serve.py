"""`agentrt serve`: an OpenAI-compatible, program-aware server (simulator or vLLM)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentrt.exceptions import ConfigError
from agentrt.runtime.scheduling.policies.config import PolicyName
from agentrt.engines import add_replica_args, replica_options

if TYPE_CHECKING:
    from agentrt.engine_adapters.base import Engine


def add_parser(sub: Any) -> None:
    p = sub.add_parser("serve", help="serve an OpenAI-compatible API with program-level scheduling",
                       description="Serve /v1/chat/completions, /v1/completions, /v1/models, /health, /metrics and "
                                   "/v1/programs. Programs are named by the X-Agentrt-Program header (or X-Session-ID, "
                                   "x-fairness-id, prompt_cache_key, vllm_xargs.program_id, agent_hint.session_id) "
                                   "or inferred from the conversation.")
    p.add_argument("--engine", choices=("sim", "vllm"), default="sim",
                   help="sim: simulated GPU on the wall clock (default); vllm: real vLLM (needs --model)")
    p.add_argument("--model", default=None, metavar="DIR", help="model folder for --engine vllm")
    p.add_argument("--profile", default=None, help="simulator profile (default llama-3.1-8b-h100)")
    p.add_argument("--policy", default=PolicyName.AGENTRT.value, choices=[x.value for x in PolicyName],
                   help="scheduling policy (default: agentrt)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: any free port, printed)")
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="sim: the simulated GPU runs this many times faster than real time (default 1)")
    p.add_argument("--responder", default=None, metavar="FILE:FUNCTION",
                   help="sim: responder(messages, tools) -> str | {content, tool_calls} writes the answers "
                        "(default: filler text of max_tokens words)")
    p.add_argument("--served-model-name", action="append", default=None, metavar="NAME",
                   help="model id clients use (repeatable; default: the profile or model folder name)")
    p.add_argument("--num-gpu-blocks", type=int, default=None, help="KV cache size in blocks (override)")
    p.add_argument("--max-in-flight", type=int, default=4096, help="sim: requests admitted at once; more get 429")
    p.add_argument("--request-timeout", type=float, default=None, metavar="S",
                   help="a call not answered within S wall seconds is aborted, its KV freed (504); a request's "
                        "X-Agentrt-Timeout header overrides it (default: no limit)")
    p.add_argument("--idle-timeout", type=float, default=300.0,
                   help="a program idle this long (s, server clock) may end; longer when its gaps are "
                        "(default 300: above the longest tool gap in the SWE-bench trace, 64.6 s)")
    p.add_argument("--log-level", default="warning", help="uvicorn log level (default warning)")
    add_replica_args(p, ray=True)
    p.add_argument("--otel", default="none", choices=("none", "console", "otlp"),
                   help="sim: export program and call spans (OTLP settings from OTEL_EXPORTER_OTLP_*)")
    p.add_argument("vllm_args", nargs=argparse.REMAINDER,
                   help="--engine vllm: after `--`, arguments for vLLM's server as they are "
                        "(e.g. -- --enable-auto-tool-choice --tool-call-parser hermes)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.time_scale <= 0:
        raise ConfigError(f"--time-scale {args.time_scale}: give a positive factor (e.g. 10: ten times real time)")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: give a port in 0..65535 (0: any free port)")
    args.vllm_args = [a for a in args.vllm_args if a != "--"]
    if args.vllm_args and args.engine != "vllm":
        raise ConfigError(f"arguments after -- are for --engine vllm only: {' '.join(args.vllm_args)}")
    if args.ray is not None:
        from agentrt.commands._serve_ray import check_ray_args

        check_ray_args(args)
    elif args.engine == "vllm":
        from agentrt.serve.vllm_server import run_vllm_server

        if args.replicas != 1:
            raise ConfigError("--replicas with --engine vllm needs --ray: vLLM's own OpenAI server (without --ray) "
                              "serves one engine; with --ray agentrt's server routes across replicas hosted by Ray")
        return run_vllm_server(args)
    return _serve_sim(args)


def _serve_sim(args: argparse.Namespace) -> int:
    from opentelemetry import trace

    from agentrt.engine_adapters.factory import create_engine
    from agentrt.runtime.tracing import setup_otel
    from agentrt.engine_adapters.sim import DEFAULT_PROFILE
    from agentrt.serve.app import ServeOptions
    from agentrt.serve.responses import engine_text
    from agentrt.serve.server import run_sim_server

    responder = _load_responder(args.responder) if args.responder else None
    profile = args.profile or DEFAULT_PROFILE
    opts: dict[str, Any] = {"num_gpu_blocks": args.num_gpu_blocks} if args.num_gpu_blocks else {}
    opts |= replica_options(args)
    default_name = Path(args.model).name if args.engine == "vllm" else profile
    try:
        options = ServeOptions(model_names=args.served_model_name or [default_name], policy=args.policy,
                               max_in_flight=args.max_in_flight, min_idle_timeout=args.idle_timeout,
                               engine_answers=args.engine == "vllm", request_timeout=args.request_timeout)
    except ValueError as exc:
        raise ConfigError(f"invalid serve options: {exc}") from None
    make_engine: Callable[[], Engine] = partial(create_engine, "sim", profile=profile, responder=engine_text, **opts)
    if args.ray is not None:
        from agentrt.commands._serve_ray import ray_engine

        make_engine = ray_engine(args, profile, engine_text)
    if args.engine == "vllm":
        create_engine("vllm", model=args.model)  # fail here on a bad model folder, not in the loop
    elif args.ray is None:
        make_engine()  # fail here on bad options, not in the loop
    otel = setup_otel(args.otel)
    if otel.tracer_provider is not None:  # the server's spans go to the global provider
        trace.set_tracer_provider(otel.tracer_provider)
    try:
        run_sim_server(make_engine, options,
                       host=args.host, port=args.port, time_scale=args.time_scale, responder=responder,
                       log_level=args.log_level, own_thread=args.engine == "vllm" or args.ray is not None)
    finally:
        otel.shutdown()
    return 0


def _load_responder(spec: str) -> Any:
    from agentrt.submit.loader import load_module

    path, _, name = spec.rpartition(":")
    if not path or not name:
        raise ConfigError(f"--responder {spec!r}: give FILE:FUNCTION, e.g. responders.py:respond")
    module = load_module(path)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ConfigError(f"--responder {spec!r}: no function {name!r} in {path}")
    return fn
