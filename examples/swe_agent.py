"""A mini-swe-agent-style loop: each turn the model proposes one bash command, it runs in the
task's working directory, and its output goes back to the model, until the model submits (its
command prints COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT first) or the step limit is hit. A reply
without exactly one bash block gets a format error back, as mini-swe-agent does.

    python examples/swe_agent.py                        # simulated engine, scripted model
    python examples/swe_agent.py --no-responder         # filler text: format errors to the limit
    python examples/swe_agent.py --engine vllm --model DIR
    agentrt submit examples/swe_agent.py:swe_agent --inputs tasks.jsonl --responder scripted_responder
"""

from __future__ import annotations

import re
import tempfile
from typing import Any

import agentrt
from agentrt.engines import engine_from_argv
from agentrt.tools import bash

DONE = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
SYSTEM = f"""You are a helpful assistant that can interact with a computer shell to solve programming tasks.
Your response must contain a THOUGHT section explaining your reasoning and exactly ONE bash code block
with ONE command (or commands joined with && or ||), formatted as:

THOUGHT: ...

```bash
your_command_here
```

Each command runs in a new shell in the task's directory. When you are done, submit with a command
whose output starts with the line {DONE}, e.g. `echo {DONE} && cat result.txt`."""
FORMAT_ERROR = ("Please always provide EXACTLY ONE action in triple backticks, found {n} actions.\n"
                "If you have completed your assignment, submit with `echo {done}`. Else, reply with a THOUGHT "
                "and one ```bash block.").replace("{done}", DONE)
TIMEOUT = "The command timed out and was killed: {error}\nPartial output:\n{output}\nTry a faster command."
ACTION = re.compile(r"```bash\s*\n(.*?)\n```", re.DOTALL)


def user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


@agentrt.program
async def swe_agent(task: str, workdir: str | None = None, max_steps: int = 8,
                    command_timeout: float = 30.0) -> dict[str, Any]:
    """Solve `task` with bash commands in `workdir` (default: a fresh temporary directory)."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="swe_agent_") as scratch:
            return await _loop(task, scratch, max_steps, command_timeout)
    return await _loop(task, workdir, max_steps, command_timeout)


async def _loop(task: str, workdir: str, max_steps: int, command_timeout: float) -> dict[str, Any]:
    messages = [{"role": "system", "content": SYSTEM}, user(f"Please solve this task:\n{task}")]
    for step in range(1, max_steps + 1):
        try:
            reply = await agentrt.llm(messages, max_tokens=512, name="propose")
        except agentrt.PromptTooLongError:  # the history outgrew the model (mini-swe-agent: LimitsExceeded)
            return {"status": "context limit", "steps": step - 1, "output": ""}
        messages.append({"role": "assistant", "content": reply.text})
        actions = ACTION.findall(reply.text)
        if len(actions) != 1:
            messages.append(user(FORMAT_ERROR.format(n=len(actions))))
            continue
        try:
            result = await bash(actions[0], cwd=workdir, timeout=command_timeout)
        except agentrt.ToolTimeoutError as exc:
            messages.append(user(TIMEOUT.format(error=exc, output=getattr(exc, "output", ""))))
            continue
        first, _, rest = result.output.lstrip().partition("\n")
        if first.strip() == DONE:
            return {"status": "submitted", "steps": step, "output": rest.strip()}
        messages.append(user(f"<returncode>{result.exit_code}</returncode>\n<output>\n{result.output}</output>"))
    return {"status": "step limit", "steps": max_steps, "output": ""}


def scripted_responder(request: agentrt.GenerationRequest) -> str:
    """The simulated model for tasks like "print the N-th Fibonacci number": it looks around,
    makes one format mistake, writes and runs fib.py, then submits its output."""
    if not isinstance(request.prompt, tuple):
        return "I cannot help with that."
    n = int(m.group(1)) if (m := re.search(r"(\d+)", request.prompt[1]["content"])) else 10
    turn = sum(msg["role"] == "assistant" for msg in request.prompt)
    script = [
        "THOUGHT: Let me see what is in the working directory.\n\n```bash\nls -la\n```",
        "THOUGHT: The directory is empty, so I will write fib.py now.",  # no bash block: a format error
        f"THOUGHT: Write the script and run it.\n\n```bash\ncat > fib.py <<'EOF'\na, b = 0, 1\n"
        f"for _ in range({n}):\n    a, b = b, a + b\nprint(a)\nEOF\npython3 fib.py\n```",
        f"THOUGHT: It printed the answer; submit it.\n\n```bash\necho {DONE} && python3 fib.py\n```",
    ]
    return script[min(turn, len(script) - 1)]


TASKS = [f"Write fib.py that prints the {n}-th Fibonacci number, run it, and submit its output." for n in (10, 20, 30)]


async def main(engine: agentrt.Engine, policy: str = "agentrt") -> list[dict[str, Any]]:
    async with agentrt.Runtime(engine=engine, policy=policy) as rt:
        handles = [rt.submit(swe_agent, task) for task in TASKS]
        results = await rt.wait(handles)
    for handle, result in zip(handles, results):
        print(f"{handle.program_id}: {result['status']} after {result['steps']} steps, "
              f"output {result['output']!r}, {handle.record.num_calls} calls, JCT {handle.record.jct:.2f} s")
    return results


if __name__ == "__main__":
    engine_from_argv(None, responder=scripted_responder, description=__doc__).run(main)
