"""The file tools stay inside their sandbox root: `..`, absolute paths and symlinks out are refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import agentrt
from agentrt.engine_adapters.testing import RecordingEngine
from agentrt.exceptions import ConfigError, FileEditError, SandboxError
from agentrt.tools import Sandbox


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    root = tmp_path / "root"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("x = 1\ny = 2\n")
    (tmp_path / "secret.txt").write_text("secret")
    return Sandbox(root)


def test_read_write_and_replace_inside_the_root(box: Sandbox) -> None:
    assert box.read_text("src/app.py") == "x = 1\ny = 2\n"
    assert box.write_text("new/dir/notes.md", "hello") == "wrote 5 characters to new/dir/notes.md"
    assert (box.root / "new" / "dir" / "notes.md").read_text() == "hello"
    assert box.replace("src/app.py", "y = 2", "y = 3") == "edited src/app.py"
    assert box.read_text("./src/app.py") == "x = 1\ny = 3\n"


@pytest.mark.parametrize("path", ["../secret.txt", "src/../../secret.txt", "src/.."])
def test_dotdot_is_refused(box: Sandbox, path: str) -> None:
    with pytest.raises(SandboxError, match=r"contains '\.\.'"):
        box.read_text(path)
    with pytest.raises(SandboxError):
        box.write_text(path, "x")


def test_absolute_paths_are_refused_even_inside_the_root(box: Sandbox) -> None:
    for path in ("/etc/passwd", str(box.root / "src" / "app.py")):
        with pytest.raises(SandboxError, match="absolute path"):
            box.read_text(path)


def test_symlinks_pointing_outside_are_refused(box: Sandbox, tmp_path: Path) -> None:
    os.symlink(tmp_path / "secret.txt", box.root / "link.txt")
    os.symlink(tmp_path, box.root / "outside")
    os.symlink(box.root / "src" / "app.py", box.root / "inside.py")
    with pytest.raises(SandboxError, match="through a symlink"):
        box.read_text("link.txt")
    with pytest.raises(SandboxError, match="through a symlink"):
        box.write_text("link.txt", "overwritten")
    with pytest.raises(SandboxError, match="through a symlink"):
        box.write_text("outside/new.txt", "x")
    assert (tmp_path / "secret.txt").read_text() == "secret" and not (tmp_path / "new.txt").exists()
    assert box.read_text("inside.py").startswith("x = 1")  # a link that stays inside is fine


def test_str_replace_needs_exactly_one_occurrence(box: Sandbox) -> None:
    box.write_text("a.txt", "same same")
    with pytest.raises(FileEditError, match="occurs 2 times.*more surrounding lines"):
        box.replace("a.txt", "same", "other")
    with pytest.raises(FileEditError, match="occurs 0 times"):
        box.replace("a.txt", "absent", "other")
    assert box.read_text("a.txt") == "same same"


def test_long_files_are_cut_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("z" * 500)
    assert Sandbox(tmp_path, max_read_chars=100).read_text("big.txt") == "z" * 100 + "\n[... about 400 more bytes not shown ...]"


def test_root_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a directory"):
        Sandbox(tmp_path / "missing")


def test_tools_have_schemas_from_the_methods(box: Sandbox) -> None:
    assert [t.name for t in box.tools] == ["read_file", "write_file", "str_replace"]
    spec = box.str_replace.spec()
    assert spec["parameters"]["required"] == ["path", "old_str", "new_str"]
    assert spec["description"].startswith("Replace the one occurrence")


@pytest.mark.anyio
async def test_a_program_gets_the_sandbox_error_as_a_tool_call_error(anyio_backend: object, box: Sandbox) -> None:
    @agentrt.program
    async def escape() -> str:
        await box.write_file("ok.txt", "fine")
        try:
            await box.read_file("../secret.txt")
        except agentrt.ToolCallError as exc:
            assert isinstance(exc.__cause__, SandboxError)
            return exc.call_name
        return "read it"

    async with agentrt.Runtime(engine=RecordingEngine()) as rt:
        assert await rt.submit(escape) == "read_file"
    assert (box.root / "ok.txt").read_text() == "fine"
