"""The `bash` and `python` tools: a command or a snippet in a subprocess, with the guarantees of
`tools.process` (own process group, wall-clock timeout, output cap, no survivor after the call).

Inside a program, `await bash("ls", cwd=repo)` issues a tool call; outside one, `await bash.fn(...)`
runs the function directly. A non-zero exit is returned in the `CommandResult`, not raised.
"""

from __future__ import annotations

import shutil
import sys

from agentrt.tools.process import CommandResult, run_command
from agentrt.tools.registry import tool

_SHELL = shutil.which("bash") or "/bin/sh"


@tool(name="bash")
async def bash(command: str, cwd: str = ".", timeout: float = 60.0, max_output: int = 10_000) -> CommandResult:
    """Run a bash command in the working directory `cwd` and return its exit code and output.

    stdout and stderr are interleaved; output longer than `max_output` characters keeps its start
    and end. Raises CommandTimeoutError (a ToolTimeoutError) after `timeout` seconds, with the
    command's whole process group killed; ConfigError if `cwd` does not exist."""
    return await run_command([_SHELL, "-c", command], cwd=cwd, timeout=timeout, max_output=max_output,
                             label=command, tool_name="bash")


@tool(name="python")
async def python(code: str, cwd: str = ".", timeout: float = 60.0, max_output: int = 10_000) -> CommandResult:
    """Run a Python snippet in a fresh interpreter in `cwd` and return its exit code and output.

    Print what you want to see. An uncaught exception gives exit code 1 and its traceback in the
    output. Raises CommandTimeoutError (a ToolTimeoutError) after `timeout` seconds, with every
    process the snippet started killed; ConfigError if `cwd` does not exist."""
    return await run_command([sys.executable, "-u", "-c", code], cwd=cwd, timeout=timeout,
                             max_output=max_output, label=f"python -c {code!r}", tool_name="python")
