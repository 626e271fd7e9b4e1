"""`Sandbox`: the file tools `read_file`, `write_file` and `str_replace`, confined to one root.

    box = Sandbox("/tmp/repo")
    text = await box.read_file("src/app.py")          # a tool call inside a program
    box.read_text("src/app.py")                        # the same, called directly

A path is refused with SandboxError when it is absolute, contains `..`, or resolves (following
symlinks) outside the root. The check resolves the path when the tool runs; it does not guard
against another process swapping a directory for a symlink between the check and the access, so
the sandbox confines a model's mistakes, not a hostile process sharing the tree.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath
from typing import Any

from agentrt.exceptions import ConfigError, FileEditError, SandboxError
from agentrt.tools.registry import Tool


class Sandbox:
    """File tools confined to `root` (an existing directory; ConfigError otherwise).

    `read_file`, `write_file` and `str_replace` are `Tool`s bound to this sandbox (not in the global
    registry, since each sandbox has its own); `tools` lists them."""

    def __init__(self, root: str | os.PathLike[str], *, max_read_chars: int = 100_000) -> None:
        if not Path(root).is_dir():
            raise ConfigError(f"sandbox root {str(root)!r} is not a directory; create it first")
        self.root = Path(root).resolve()
        self.max_read_chars = max_read_chars
        self.read_file: Tool[Any, str] = Tool(self.read_text, name="read_file")
        self.write_file: Tool[Any, str] = Tool(self.write_text, name="write_file")
        self.str_replace: Tool[Any, str] = Tool(self.replace, name="str_replace")

    @property
    def tools(self) -> list[Tool[Any, str]]:
        return [self.read_file, self.write_file, self.str_replace]

    def resolve(self, path: str) -> Path:
        """The absolute path of `path` (relative to the root). Raises SandboxError if it is
        absolute, contains `..`, or resolves outside the root through a symlink."""
        pure = PurePath(path)
        where = f"the sandbox root {self.root}"
        if pure.is_absolute():
            raise SandboxError(f"{path!r} is an absolute path; give a path relative to {where}")
        if ".." in pure.parts:
            raise SandboxError(f"{path!r} contains '..'; give a path inside {where} without '..'")
        full = (self.root / pure).resolve()
        if not full.is_relative_to(self.root):
            raise SandboxError(f"{path!r} resolves to {full} through a symlink, outside {where}; "
                               "use a path whose target is inside the sandbox")
        return full

    def read_text(self, path: str) -> str:
        """Read a text file (path relative to the sandbox root). Long files are cut, with a note.

        Raises SandboxError for a path outside the sandbox, FileNotFoundError if it is missing."""
        full = self.resolve(path)
        with full.open(encoding="utf-8", errors="replace") as f:  # reads at most the cap, whatever the size
            text = f.read(self.max_read_chars + 1)
        if len(text) > self.max_read_chars:
            shown = text[:self.max_read_chars]
            omitted = full.stat().st_size - len(shown.encode("utf-8", errors="replace"))
            text = f"{shown}\n[... about {max(1, omitted)} more bytes not shown ...]"
        return text

    def write_text(self, path: str, content: str) -> str:
        """Create or overwrite a text file (path relative to the sandbox root), making its folders.

        Raises SandboxError for a path outside the sandbox."""
        full = self.resolve(path)
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(content)
        return f"wrote {len(content)} characters to {path}"

    def replace(self, path: str, old_str: str, new_str: str) -> str:
        """Replace the one occurrence of `old_str` in a file with `new_str`.

        Raises FileEditError unless `old_str` occurs exactly once (add surrounding lines to make it
        unique), SandboxError for a path outside the sandbox, FileNotFoundError if it is missing."""
        full = self.resolve(path)
        text = full.read_text()
        count = text.count(old_str) if old_str else 0
        if count != 1:
            hint = "check the exact text, whitespace included" if count == 0 else \
                "include more surrounding lines so it is unique"
            raise FileEditError(f"str_replace: old_str occurs {count} times in {path}, it must occur "
                                f"exactly once; {hint}")
        full.write_text(text.replace(old_str, new_str, 1))
        return f"edited {path}"

    def __repr__(self) -> str:
        return f"<Sandbox {self.root}>"
