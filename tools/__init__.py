"""Tools: the `@tool` registry and the built-in tools.

- `bash`, `python`: a command or a snippet in its own process group, with a wall-clock timeout, an
  output cap, and no process left behind (`tools.commands`, `tools.process`), taking their real
  duration under the simulator's virtual clock (`tools.clock.real_time`);
- `Sandbox(root)`: `read_file`, `write_file`, `str_replace` confined to a root (`tools.sandbox`).
"""

from __future__ import annotations

from agentrt.tools.clock import real_time
from agentrt.tools.commands import bash, python
from agentrt.tools.process import CommandResult, run_command
from agentrt.tools.registry import Tool, ToolCallInfo, annotate_call, current_tool_call, get_tool, registered_tools, tool
from agentrt.tools.sandbox import Sandbox

__all__ = ["CommandResult", "Sandbox", "Tool", "ToolCallInfo", "annotate_call", "bash", "current_tool_call",
           "get_tool", "python", "real_time", "registered_tools", "run_command", "tool"]
