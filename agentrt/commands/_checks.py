"""Range checks of the numeric workload flags, before anything is loaded (one line, exit 2)."""

from __future__ import annotations

import argparse

from agentrt.exceptions import ConfigError
from agentrt.replay.workload import MAX_TOKENS

# flag -> (attribute, smallest allowed value); None values mean "not given"
_COUNTS = {"--limit": ("limit", 1), "--num-gpu-blocks": ("num_gpu_blocks", 1), "--max-context": ("max_context", 2),
           "--system-prompt-tokens": ("system_prompt_tokens", 0)}


def check_counts(args: argparse.Namespace) -> None:
    """Raises ConfigError naming the flag when a count is out of range."""
    for flag, (attr, low) in _COUNTS.items():
        value = getattr(args, attr, None)
        if value is not None and not low <= value <= MAX_TOKENS:
            raise ConfigError(f"{flag} {value}: give a whole number from {low} to {MAX_TOKENS:,}")
