"""`agentrt model tiny DIR`: write a tiny random-weight Llama for tests and CPU benchmarks."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from agentrt.exceptions import ConfigError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("model", help="write a test model folder",
                       description="Write a model folder that `--engine vllm --model DIR` can serve.")
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    tiny = kinds.add_parser("tiny", help="a tiny random-weight Llama (2 layers, head_dim 64) with a "
                                         "locally trained byte-level BPE tokenizer; needs transformers and torch")
    tiny.add_argument("folder", type=Path, help="output folder (created if needed)")
    tiny.add_argument("--seed", type=int, default=0, help="seed of the weights and the tokenizer corpus")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        from agentrt.engine_adapters.vllm.tiny_model import write_tiny_model

        start = time.perf_counter()
        folder = write_tiny_model(args.folder, seed=args.seed)
    except ModuleNotFoundError as exc:
        raise ConfigError(f"`agentrt model tiny` needs {exc.name}: install the CPU engine with "
                          "`python -m agentrt.engine_adapters.vllm.install`") from exc
    except OSError as exc:
        raise ConfigError(f"cannot write the model to {args.folder}: {exc}") from exc
    print(f"wrote {folder} in {time.perf_counter() - start:.1f} s")
    return 0
