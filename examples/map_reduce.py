"""Map-reduce summarization: one LLM call per chunk, all in parallel, then one reduce call over
their answers. Each document is a DAG with parallel branches that join in the reduce call, the
shape where ATLAS (critical-path priority) differs from PLAS (total service).

    python examples/map_reduce.py                           # simulated engine, scripted model
    python examples/map_reduce.py --policy atlas            # compare with --policy plas
    python examples/map_reduce.py --engine vllm --model DIR
    agentrt submit examples/map_reduce.py:map_reduce --n 20 --rate 5 --responder scripted_responder
"""

from __future__ import annotations

import re

import agentrt
from agentrt.engines import engine_from_argv

MAP = "Summarize this passage in one sentence:\n"
REDUCE = "Combine these partial summaries into one short paragraph:\n"
DOCUMENT = """Agent programs interleave LLM calls with tool calls. A scheduler that sees single calls
cannot tell a short program from a long one. Program-level scheduling orders calls by the service
their program has attained. Short programs then finish first and the mean completion time falls.
Tool calls pause a program while its KV cache sits idle. Pinning that cache for the predicted
tool time avoids recomputing the whole prefix. The pin must expire, or idle programs would starve
the rest. Parallel branches of one program share a critical path. Prioritizing by critical-path
service helps the branch that the program is waiting on. Fairness needs a guard against
starvation, so long waits promote a call back to the top queue."""


def sentences(text: str) -> list[str]:
    return re.split(r"(?<=[.!?])\s+", " ".join(text.split()))


def chunks(text: str, sentences_per_chunk: int) -> list[str]:
    parts = sentences(text)
    return [" ".join(parts[i:i + sentences_per_chunk]) for i in range(0, len(parts), sentences_per_chunk)]


@agentrt.program
async def map_reduce(text: str = DOCUMENT, sentences_per_chunk: int = 2) -> str:
    """Summarize each chunk in parallel (map), then combine the summaries (reduce)."""
    parts = chunks(text, sentences_per_chunk)
    summaries = await agentrt.gather(*(agentrt.llm(MAP + part, max_tokens=48, name="map") for part in parts))
    combined = "\n".join(f"- {s.text.strip()}" for s in summaries)
    final = await agentrt.llm(REDUCE + combined, max_tokens=128, name="reduce")
    return final.text.strip()


def scripted_responder(request: agentrt.GenerationRequest) -> str:
    """The simulated model: a map call answers with its passage's first sentence, the reduce call
    joins the partial summaries."""
    prompt = request.prompt if isinstance(request.prompt, str) else ""
    if prompt.startswith(MAP):
        return sentences(prompt[len(MAP):])[0]
    if prompt.startswith(REDUCE):
        return " ".join(line[2:] for line in prompt[len(REDUCE):].splitlines())
    return "I cannot help with that."


async def main(engine: agentrt.Engine, policy: str = "agentrt") -> list[str]:
    sizes = (1, 2, 5)  # sentences per chunk: smaller chunks, more parallel branches
    async with agentrt.Runtime(engine=engine, policy=policy) as rt:
        handles = [rt.submit(map_reduce, DOCUMENT, size) for size in sizes]
        summaries = await rt.wait(handles)
    for size, handle, summary in zip(sizes, handles, summaries):
        print(f"{handle.program_id} ({handle.record.num_calls} calls, {size} sentence(s) per chunk, "
              f"JCT {handle.record.jct:.2f} s): {summary[:90]}...")
    return summaries


if __name__ == "__main__":
    engine_from_argv(None, responder=scripted_responder, description=__doc__).run(main)
