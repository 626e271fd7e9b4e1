"""Arguments shared by the replay and bench subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from agentrt.engine_adapters.factory import ENGINES
from agentrt.commands._checks import check_counts
from agentrt.exceptions import ConfigError, TraceFormatError
from agentrt.replay.mix import describe_mix, load_mix, parse_mix
from agentrt.replay.trace import TraceProgram
from agentrt.replay.workload import Scaling, make_scaling
from agentrt.engines import add_replica_args, replica_options

console = Console(stderr=True)


def add_workload_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("trace", help="a trace file (JSON Lines), a bundled trace name (e.g. swebench-lite-deepseek-v3), "
                                 "a named workload (mixed: SWE-bench + BFCL), or a mix TRACE:WEIGHT,TRACE:WEIGHT")
    p.add_argument("--engine", choices=ENGINES, default="sim", help="engine (default: the simulator)")
    p.add_argument("--profile", default=None, help="simulator profile (default llama-3.1-8b-h100)")
    p.add_argument("--model", default=None, help="model folder for --engine vllm")
    p.add_argument("--num-gpu-blocks", type=int, default=None, help="KV cache size in blocks (override)")
    p.add_argument("--host-kv-gib", type=float, default=0.0,
                   help="simulator: a host-memory KV tier of this many GiB per GPU; contexts evicted from the GPU "
                        "are loaded back over PCIe instead of prefilled again (default 0: none, as vLLM)")
    p.add_argument("--seed", type=int, default=0, help="seed of the Poisson arrivals (default 0)")
    p.add_argument("--limit", type=int, default=None, help="replay only the first N programs")
    p.add_argument("--programs", type=int, default=None,
                   help="draw N programs from the workload with replacement (by weight, seeded by --seed)")
    p.add_argument("--token-scale", type=float, default=1.0, help="multiply every token count (small engines)")
    p.add_argument("--max-context", type=int, default=None,
                   help="shrink the token scale so the longest prompt + output fits this many tokens")
    p.add_argument("--system-prompt-tokens", type=int, default=0,
                   help="a system-prompt prefix of this many tokens shared by all programs (default 0)")
    p.add_argument("--skip-bad-lines", action="store_true", help="report and skip malformed trace lines")
    add_replica_args(p)


def load_workload(args: argparse.Namespace) -> tuple[list[TraceProgram], Scaling]:
    def report(exc: TraceFormatError) -> None:
        console.print(f"[yellow]skipped[/yellow] {exc}")

    check_counts(args)
    programs = load_mix(parse_mix(args.trace), programs=args.programs, seed=args.seed, limit=args.limit,
                        skip_bad_lines=args.skip_bad_lines, on_skip=report)
    return programs, make_scaling(programs, args.token_scale, args.max_context)


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if args.engine == "sim":
        opts["profile"] = args.profile
    else:
        opts["model"] = args.model
    if args.num_gpu_blocks:
        opts["num_gpu_blocks" if args.engine == "sim" else "num_gpu_blocks_override"] = args.num_gpu_blocks
    if args.host_kv_gib:
        if args.engine != "sim" or not args.host_kv_gib > 0:
            raise ConfigError(f"--host-kv-gib {args.host_kv_gib}: give a positive size, with --engine sim "
                              "(on vLLM the host tier is vLLM's own --kv-offloading-size)")
        opts["host_kv_gib"] = args.host_kv_gib
    return opts | replica_options(args)


def config_json(args: argparse.Namespace, programs: list[TraceProgram], scaling: Scaling) -> dict[str, Any]:
    return {"trace": str(args.trace), "mix": describe_mix(parse_mix(args.trace)), "programs_drawn": args.programs,
            "num_programs": len(programs), "engine": args.engine,
            "profile": args.profile, "model": args.model, "num_gpu_blocks": args.num_gpu_blocks,
            "host_kv_gib": args.host_kv_gib, "seed": args.seed,
            "token_scale_requested": scaling.requested, "token_scale_effective": scaling.scale,
            "max_context": scaling.max_context, "system_prompt_tokens": args.system_prompt_tokens,
            "replicas": args.replicas, "router": args.router if args.replicas > 1 else None}


def default_output(kind: str) -> Path:
    import time

    return Path("results") / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
