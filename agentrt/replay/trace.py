"""The agent-trace format (JSON Lines, one program per line) and its streaming loader.

Format (see traces/README.md for provenance): `{"program_id", "source", "meta", "steps": [...]}`
where a step is `{"kind": "llm", "input_tokens", "output_tokens", "new_input_tokens", ...}` or
`{"kind": "tool", "name", "duration_s", ...}`. Unknown optional fields are kept but unused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentrt.exceptions import ConfigError, TraceFormatError, TraceNotFoundError

BUNDLED = Path(__file__).parent / "traces"
# Longest tool call a trace may hold (11.6 days). A virtual clock pushed to 1e15 s has a resolution
# (float spacing) of 0.125 s, coarser than an engine step, so the simulation could not advance.
MAX_TOOL_SECONDS = 1e6


class LLMStep(BaseModel):
    """One LLM call: its whole prompt, its answer, and what is new since the previous turn."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: Literal["llm"]
    input_tokens: int = Field(ge=1, description="Tokens of the whole prompt.")
    output_tokens: int = Field(ge=0, description="Tokens generated.")
    new_input_tokens: int | None = Field(None, ge=0, description="Prompt tokens new since the previous turn.")


class ToolStep(BaseModel):
    """One tool call and how long it ran (null: unknown, replayed as 0 s)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: Literal["tool"]
    name: str = Field(min_length=1, description="Tool name.")
    duration_s: float | None = Field(None, ge=0, le=MAX_TOOL_SECONDS, allow_inf_nan=False,
                                     description="Wall seconds, at most MAX_TOOL_SECONDS.")


Step = Annotated[LLMStep | ToolStep, Field(discriminator="kind")]


class TraceProgram(BaseModel):
    """One recorded agent program."""

    model_config = ConfigDict(extra="allow", frozen=True)
    program_id: str = Field(min_length=1)
    source: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)

    @property
    def llm_steps(self) -> list[LLMStep]:
        return [s for s in self.steps if isinstance(s, LLMStep)]


def resolve(path: str | Path) -> Path:
    """A trace path, or the name of a bundled trace (e.g. `swebench-lite-deepseek-v3`). Raises
    ConfigError when it is neither, or is a folder."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"trace {path}: is a folder; give a JSON Lines file or a bundled trace name")
    if p.exists():
        return p
    for candidate in (BUNDLED / p.name, BUNDLED / f"{p.name}.jsonl"):
        if candidate.exists():
            return candidate
    bundled = sorted(f.stem for f in BUNDLED.glob("*.jsonl"))
    raise TraceNotFoundError(f"no trace at {path}; give a JSON Lines file or a bundled trace: {', '.join(bundled)}")


def iter_trace(path: str | Path, *, skip_bad_lines: bool = False,
               on_skip: Callable[[TraceFormatError], None] | None = None) -> Iterator[TraceProgram]:
    """Yield the programs of a JSON Lines trace, one line at a time.

    Raises TraceFormatError (file, line, field) on the first malformed line, unless
    `skip_bad_lines`: then the error goes to `on_skip` and the line is skipped."""
    p = resolve(path)
    with p.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                error = TraceFormatError(str(p), lineno, "<encoding>", f"not UTF-8 text (byte {exc.start + 1})")
                if not skip_bad_lines:
                    raise error from None
                if on_skip is not None:
                    on_skip(error)
                continue
            if not line.strip():
                continue
            try:
                yield parse_line(line, str(p), lineno)
            except TraceFormatError as exc:
                if not skip_bad_lines:
                    raise
                if on_skip is not None:
                    on_skip(exc)


def load_trace(path: str | Path, *, skip_bad_lines: bool = False, limit: int | None = None,
               on_skip: Callable[[TraceFormatError], None] | None = None) -> list[TraceProgram]:
    """All programs of a trace (the first `limit` if given). Raises as `iter_trace`."""
    out: list[TraceProgram] = []
    for prog in iter_trace(path, skip_bad_lines=skip_bad_lines, on_skip=on_skip):
        out.append(prog)
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise TraceFormatError(str(path), 0, "steps", "the trace holds no program")
    return out


def parse_line(line: str, path: str, lineno: int) -> TraceProgram:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TraceFormatError(path, lineno, "<json>", f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    try:
        return TraceProgram.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"])
        raise TraceFormatError(path, lineno, loc or "<line>", err["msg"]) from None
