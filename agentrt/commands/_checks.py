"""Range checks of the numeric workload flags, before anything is loaded (one line, exit 2)."""

from __future__ import annotations

import argparse

from agentrt.exceptions import ConfigError
from agentrt.replay.workload import MAX_TOKENS

MAX_BLOCKS = 10**7  # 160M tokens at 16 per block: past any GPU, and the simulator allocates per block

# flag -> (attribute, smallest, largest allowed value); None values mean "not given"
_COUNTS = {"--limit": ("limit", 1, MAX_TOKENS), "--num-gpu-blocks": ("num_gpu_blocks", 1, MAX_BLOCKS),
           "--max-context": ("max_context", 2, MAX_TOKENS), "--system-prompt-tokens": ("system_prompt_tokens", 0, MAX_TOKENS)}


def check_counts(args: argparse.Namespace) -> None:
    """Raises ConfigError naming the flag when a count is out of range."""
    for flag, (attr, low, high) in _COUNTS.items():
        value = getattr(args, attr, None)
        if value is not None and not low <= value <= high:
            raise ConfigError(f"{flag} {value}: give a whole number from {low} to {high:,}")
