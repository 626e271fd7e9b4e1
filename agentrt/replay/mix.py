"""Workloads as users run them: several traces with weights (a mix), and N programs drawn from it.

A workload argument is a named workload (`mixed`), or comma-separated traces each with an optional
weight: `swebench-lite-deepseek-v3:1,bfcl-v4-multiturn-gptoss120b:3`. Without `programs`, every
program of every trace runs once (several traces: shuffled, seeded). With `programs=N`, N programs
are drawn with replacement: a trace with probability proportional to its weight, then a program of
it uniformly, so a rate sweep reaches steady state instead of running out of programs. The draw is
seeded and independent of the arrival times' seed stream.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agentrt.exceptions import ConfigError, TraceFormatError
from agentrt.replay.trace import TraceProgram, load_trace

SWEBENCH = "swebench-lite-deepseek-v3"
BFCL = "bfcl-v4-multiturn-gptoss120b"


@dataclass(slots=True, frozen=True)
class MixPart:
    """One trace of a mix and its weight (share of the drawn programs)."""

    trace: str
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not self.trace:
            raise ConfigError("a workload part needs a trace name or path, e.g. swebench-lite-deepseek-v3:1")
        if not (self.weight > 0 and math.isfinite(self.weight)):
            raise ConfigError(f"weight of {self.trace!r} must be a positive number, got {self.weight}")


NAMED_WORKLOADS: dict[str, tuple[MixPart, ...]] = {
    # Autellix's "Mixed": long SWE-bench agents and short function-calling programs (~100x apart
    # in service), equally many of each
    "mixed": (MixPart(SWEBENCH), MixPart(BFCL)),
}


def parse_mix(text: str) -> tuple[MixPart, ...]:
    """A named workload, or `trace[:weight],trace[:weight],...`. Raises ConfigError."""
    if text in NAMED_WORKLOADS:
        return NAMED_WORKLOADS[text]
    parts = []
    for item in (x.strip() for x in text.split(",")):
        if not item:
            continue
        name, sep, weight = item.rpartition(":")
        if not sep or not _is_number(weight):
            parts.append(MixPart(item))
            continue
        parts.append(MixPart(name, float(weight)))
    if not parts:
        raise ConfigError(f"no trace in workload {text!r}; named workloads: {', '.join(NAMED_WORKLOADS)}")
    return tuple(parts)


def describe_mix(parts: Sequence[MixPart]) -> str:
    return " + ".join(f"{p.trace} x{p.weight:g}" for p in parts)


def load_mix(parts: Sequence[MixPart], *, programs: int | None = None, seed: int = 0, limit: int | None = None,
             skip_bad_lines: bool = False,
             on_skip: Callable[[TraceFormatError], None] | None = None) -> list[TraceProgram]:
    """The workload's programs. Raises ConfigError for programs < 1, TraceFormatError and
    FileNotFoundError as `load_trace`."""
    if programs is not None and programs < 1:
        raise ConfigError(f"--programs must be >= 1, got {programs}")
    traces = [load_trace(p.trace, skip_bad_lines=skip_bad_lines, on_skip=on_skip) for p in parts]
    rng = random.Random(f"workload-draw-{seed}")
    if programs is not None:
        weights = [p.weight for p in parts]
        out = [rng.choice(rng.choices(traces, weights)[0]) for _ in range(programs)]
    elif len(traces) == 1:
        out = traces[0]
    else:
        out = [prog for trace in traces for prog in trace]
        rng.shuffle(out)
    return out[:limit] if limit is not None else out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
