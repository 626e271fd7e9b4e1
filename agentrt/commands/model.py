"""`agentrt model {tiny,bench,bench-wide} DIR`: write a random-weight Llama for tests (tiny) or CPU
benchmarks (bench: a prefill's time grows with its tokens; bench-wide: the same, 2.2x per token)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from agentrt.engine_adapters.vllm.tiny_model import SHAPES
from agentrt.exceptions import ConfigError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("model", help="write a test model folder",
                       description="Write a model folder that `--engine vllm --model DIR` can serve.")
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    helps = {"tiny": "for tests: loads in seconds, every step costs about the same",
             "bench": "for CPU benchmarks: a prefill's time grows with its tokens",
             "bench-wide": "for CPU benchmarks on a fast CPU: 2.2x bench's cost per prefill token"}
    for kind, shape in SHAPES.items():
        sizes = f"{shape.num_layers} layers, hidden {shape.hidden_size}, MLP {shape.intermediate_size}, head_dim 64"
        one = kinds.add_parser(kind, help=f"a random-weight Llama ({sizes}) with a locally trained byte-level "
                                          f"BPE tokenizer, {helps[kind]}; needs transformers and torch")
        one.add_argument("folder", type=Path, help="output folder (created if needed)")
        one.add_argument("--seed", type=int, default=0, help="seed of the weights and the tokenizer corpus")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        from agentrt.engine_adapters.vllm.tiny_model import write_model

        start = time.perf_counter()
        folder = write_model(args.folder, SHAPES[args.kind], seed=args.seed)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"`agentrt model {args.kind}` needs {exc.name}: install the CPU engine with "
                          "`python -m agentrt.engine_adapters.vllm.install`") from exc
    except OSError as exc:
        raise ConfigError(f"cannot write the model to {args.folder}: {exc}") from exc
    print(f"wrote {folder} in {time.perf_counter() - start:.1f} s")
    return 0
