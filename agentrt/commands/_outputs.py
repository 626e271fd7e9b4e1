"""Output paths checked before a run starts, and JSON Lines written as results arrive.

A run can take hours; an output path that cannot be written must fail in the first second, not
after the last replay. Results are appended a line at a time and flushed, so an interrupt, a
signal or a crash keeps every program or run that finished.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from agentrt.commands._exit import note_on_exit
from agentrt.exceptions import ConfigError


def output_dir(path: Path, flag: str = "--output") -> Path:
    """Create the folder `path` if needed and check that files can be written in it. Raises
    ConfigError naming `flag` when it is a file or cannot be created or written."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {path}: is a file; give a folder (it is created if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".agentrt-write-check-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot write there ({exc.strerror or exc}); give a writable folder") from None
    return path


def output_file(path: Path, flag: str = "--output") -> Path:
    """Check that the file `path` can be written (creating its folder). Raises ConfigError naming
    `flag` when it is a folder or its folder cannot be created or written."""
    if path.is_dir():
        raise ConfigError(f"{flag} {path}: is a folder; give a file name, e.g. {path / 'results.json'}")
    output_dir(path.parent if str(path.parent) else Path("."), flag)
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"{flag} {path}: the file is not writable; give another file name")
    return path


class JsonLines:
    """Writes one JSON object per line to `path`, flushed at once (`path` None: writes nothing).
    Raises ConfigError when the file cannot be opened."""

    def __init__(self, path: Path | None, flag: str = "--output") -> None:
        self.path = path
        self._file: IO[str] | None = None
        if path is not None:
            output_file(path, flag)
            try:
                self._file = path.open("w", encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"{flag} {path}: cannot open for writing ({exc.strerror or exc})") from None

    def write(self, obj: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(obj, default=str) + "\n")
            self._file.flush()

    def num_lines(self) -> int:
        """Lines in the file now, counted there: a signal that stops the run between a line's write
        and any count kept beside it cannot make the report disagree with the file."""
        if self.path is None:
            return 0
        if self._file is not None:
            self._file.flush()  # a line written whole but stopped before its flush
        if not self.path.exists():
            return 0
        with self.path.open("rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> JsonLines:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextmanager
def kept_on_exit(stream: JsonLines, what: str) -> Iterator[None]:
    """When the block ends by an exception (an interrupt, a deadline), the CLI's one-line report
    says where the `what` that finished were kept."""
    try:
        yield
    except BaseException:
        if stream.path is not None:
            note_on_exit(f"kept {stream.num_lines()} {what} in {stream.path}")
        raise
