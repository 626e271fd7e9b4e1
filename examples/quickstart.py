"""Quick start: an agent program that asks the model for a Python expression, runs it with the
`python` tool, and reports the answer; eight instances at once on the simulated engine.

    python examples/quickstart.py                                  # simulated GPU, virtual time
    python examples/quickstart.py --engine vllm --model Qwen/Qwen2.5-0.5B-Instruct

On the simulator the model's text comes from `respond` below (or is filler with --no-responder:
the snippet then fails, and the program reports the error it got back).
"""

from __future__ import annotations

import re

import agentrt
from agentrt.engines import engine_from_argv
from agentrt.tools import python

QUESTIONS = ["17 * 23", "2 ** 10", "sum(range(100))", "round(3.14159 * 2, 2)",
             "len('agentrt')", "max(4, 9, 2)", "7 // 2", "abs(-42)"]


@agentrt.program
async def calculator(question: str) -> str:
    """Ask for an expression, evaluate it in a subprocess, return `question = answer`."""
    prompt = f"Reply with one Python expression, and nothing else, that computes: {question}"
    reply = await agentrt.llm([{"role": "user", "content": prompt}], max_tokens=32)
    expression = reply.text.strip().strip("`").strip()
    run = await python(f"print({expression})", timeout=10)
    answer = run.output.strip() if run.ok else f"error (exit {run.exit_code})"
    return f"{question} = {answer}"


def respond(request: agentrt.GenerationRequest) -> str:
    """The simulated model: echo the expression the question asks for."""
    text = request.prompt[-1]["content"] if isinstance(request.prompt, tuple) else str(request.prompt)
    return re.sub(r".*computes: ", "", text)


async def main(engine: agentrt.Engine, policy: str = "agentrt") -> list[str]:
    async with agentrt.Runtime(engine=engine, policy=policy) as rt:
        handles = [rt.submit(calculator, q) for q in QUESTIONS]
        answers = await rt.wait(handles)
    for handle, answer in zip(handles, answers):
        print(f"{handle.program_id:>3}  {answer:<28} JCT {handle.record.jct:.3f} s")
    return answers


if __name__ == "__main__":
    engine_from_argv(None, responder=respond, description=__doc__).run(main)
