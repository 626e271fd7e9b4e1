"""Find `PROGRAM` in `FILE` and read the keyword arguments of its instances from a JSON Lines file."""

from __future__ import annotations

import importlib.util
import inspect
import json
import sys
import traceback
from itertools import count
from pathlib import Path
from types import ModuleType
from typing import Any

from agentrt.exceptions import ConfigError, InputsFormatError, UnknownNameError
from agentrt.programs.decorators import Program

_module_ids = count(1)


def load_module(path: str | Path) -> ModuleType:
    """Import a Python file under a unique module name. Raises ConfigError naming the Python files
    next to it when it does not exist, and naming the file and line when importing it raises."""
    file = Path(path)
    if not file.is_file():
        folder = file.parent if file.parent.is_dir() else Path(".")
        found = sorted(p.name for p in folder.glob("*.py"))
        raise ConfigError(f"no file {str(path)!r}; Python files in {str(folder)!r}: {', '.join(found) or 'none'}")
    name = f"agentrt_submitted_{file.stem}_{next(_module_ids)}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{str(path)!r} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's file failed to import: one line naming where
        sys.modules.pop(name, None)
        raise ConfigError(f"{_where(exc, file)}: importing {path} raised {type(exc).__name__}: {exc}") from exc
    return module


def _where(exc: BaseException, file: Path) -> str:
    """`FILE:LINE` of the error: the syntax error's line, or the last frame inside `file`."""
    if isinstance(exc, SyntaxError) and exc.lineno is not None:
        return f"{file}:{exc.lineno}"
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == file.absolute()]
    return f"{file}:{lines[-1]}" if lines else str(file)


def programs_in(module: ModuleType) -> dict[str, Program[Any, Any]]:
    return {name: obj for name, obj in vars(module).items() if isinstance(obj, Program)}


def load_program(spec: str) -> tuple[ModuleType, Program[Any, Any]]:
    """`FILE:PROGRAM` -> (module, program). Raises ConfigError for a malformed spec or a missing
    file, UnknownNameError listing the file's programs when PROGRAM is not one of them."""
    file, sep, name = spec.rpartition(":")
    if not sep or not file or not name:
        raise ConfigError(f"{spec!r}: give FILE:PROGRAM, e.g. examples/swe_agent.py:swe_agent")
    module = load_module(file)
    found = programs_in(module)
    if name not in found:
        if name in vars(module):
            raise ConfigError(f"{name!r} in {file} is {type(vars(module)[name]).__name__}, not an "
                              f"@agentrt.program; programs in {file}: {', '.join(found) or 'none'}")
        if not found:
            raise ConfigError(f"{file} defines no @agentrt.program (looked for {name!r})")
        raise UnknownNameError("program", name, sorted(found))
    return module, found[name]


def read_inputs(path: str | Path, program: Program[Any, Any]) -> list[dict[str, Any]]:
    """One dict of keyword arguments per non-blank line, each checked against the program's
    signature. Raises InputsFormatError with the line number for bad JSON, a non-object line, or
    arguments the program does not take; ConfigError if the file does not exist."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"no inputs file {str(path)!r}")
    out: list[dict[str, Any]] = []
    for lineno, line in enumerate(file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            kwargs = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputsFormatError(str(path), lineno, f"not valid JSON ({exc.msg})") from None
        if not isinstance(kwargs, dict):
            raise InputsFormatError(str(path), lineno, f"expected a JSON object of keyword arguments, got {line[:80]}")
        check_arguments(program, kwargs, where=(str(path), lineno))
        out.append(kwargs)
    return out


def check_arguments(program: Program[Any, Any], kwargs: dict[str, Any], *,
                    where: tuple[str, int] | None = None) -> None:
    """Raises InputsFormatError (with `where` = (path, line)) or ConfigError when the program
    cannot be called with these keyword arguments."""
    sig = _signature(program.fn)
    try:
        sig.bind(**kwargs)
    except TypeError as exc:
        message = f"{exc}; {program.name} takes {sig}"
        if where is None:
            raise ConfigError(f"{message}: give each instance's arguments with --inputs FILE.jsonl") from None
        raise InputsFormatError(where[0], where[1], message) from None


def _signature(fn: Any) -> inspect.Signature:
    try:  # show `x: int`, not `x: 'int'`, under `from __future__ import annotations`
        return inspect.signature(fn, eval_str=True)
    except Exception:  # an annotation that does not evaluate: show it as written
        return inspect.signature(fn)
