"""The results file of `agentrt submit`: one JSON line per finished program instance, written and
flushed as each finishes, so an interrupted run keeps every result it reached."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ResultLine(BaseModel):
    """One finished program instance. Times are on the runtime clock (virtual under the simulator)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: int = Field(ge=0, description="Which instance: its 0-based line in --inputs, or its number with --n.")
    program_id: str = Field(description="The runtime's id of the instance, e.g. p3.")
    name: str = Field(description="The program's name.")
    inputs: dict[str, Any] = Field(description="The keyword arguments it was called with.")
    status: Literal["ok", "failed", "cancelled"] = Field(description="How it ended.")
    result: Any = Field(None, description="Its return value (its repr() when not JSON-serializable).")
    error: str | None = Field(None, description="`Type: message` of what it raised, when failed.")
    traceback: str | None = Field(None, description="The traceback of what it raised, when failed.")
    start: float = Field(description="When it was submitted (s).")
    finish: float = Field(description="When it finished (s).")
    jct: float = Field(ge=0, description="Job completion time, finish - start (s).")
    attained_service: float = Field(ge=0, description="Engine time its LLM calls received (s).")
    num_calls: int = Field(ge=0, description="LLM, tool and sub-program calls it issued.")


def jsonable(value: Any) -> Any:
    """`value` if it survives JSON encoding, else its repr()."""
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


class ResultsWriter:
    """Appends ResultLines to a JSON Lines file (nothing when `path` is None), flushing each."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self._file: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w")

    def write(self, line: ResultLine) -> None:
        if self._file is not None:
            self._file.write(line.model_dump_json() + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_results(path: str | Path) -> list[ResultLine]:
    """Read a results file back."""
    return [ResultLine.model_validate_json(line) for line in Path(path).read_text().splitlines() if line.strip()]
