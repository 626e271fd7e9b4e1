"""`JsonLines`' count of what it kept is the file's own: a stop between a line's write and its flush
(the signal that ends `bench`) cannot make the one-line report disagree with the file (a clean-clone
run once reported "kept 1 finished runs" beside a file of 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentrt.commands import _exit
from agentrt.commands._outputs import JsonLines, kept_on_exit


def test_the_kept_count_is_the_files_even_when_a_stop_lands_before_the_flush(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    with JsonLines(path) as stream:
        stream.write({"run": 1})
        assert stream._file is not None
        real_flush = stream._file.flush

        def stopped() -> None:  # the signal arrives after the line is in the buffer, before it is flushed
            stream._file.flush = real_flush  # type: ignore[method-assign,union-attr]
            raise KeyboardInterrupt

        stream._file.flush = stopped  # type: ignore[method-assign]
        with pytest.raises(KeyboardInterrupt), kept_on_exit(stream, "finished runs"):
            stream.write({"run": 2})
    assert [json.loads(line)["run"] for line in path.read_text().splitlines()] == [1, 2]
    assert _exit._notes == [f"kept 2 finished runs in {path}"]
    _exit._notes.clear()


def test_no_file_no_lines() -> None:
    assert JsonLines(None).num_lines() == 0
