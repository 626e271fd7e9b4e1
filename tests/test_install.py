"""Installing agentrt adds one top-level package, `agentrt`, and every source package under it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"runtime": "runtime", "programs": "programs", "tools": "tools", "engine_adapters": "engine_adapters"}


def test_install_creates_no_bare_top_level_packages(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(ROOT)], check=True, cwd=tmp_path)
    top = {p.name for p in target.iterdir() if not p.name.endswith(".dist-info")}
    assert top == {"agentrt", "bin"} or top == {"agentrt"}, top
    installed = target / "agentrt"
    for folder, name in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            if "__pycache__" in init.parts:
                continue
            rel = init.parent.relative_to(ROOT / folder)
            assert (installed / name / rel / "__init__.py").is_file(), f"{folder}/{rel} is not installed"
    assert (installed / "runtime" / "runtime.py").is_file()
    assert any((installed / "replay" / "traces").glob("*.jsonl")) or not (ROOT / "agentrt/replay/traces").exists()
