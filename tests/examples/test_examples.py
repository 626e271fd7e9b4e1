"""Every example runs to completion on the simulator, with its scripted model and with filler
text, and runs as a script exactly as the docs show."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from agentrt.engine_adapters.sim import SimEngine
from agentrt.submit.loader import load_module

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

pytestmark = [pytest.mark.anyio, pytest.mark.virtual_time]


def example(name: str) -> ModuleType:
    return load_module(EXAMPLES / f"{name}.py")


async def test_quickstart(anyio_backend: object) -> None:
    qs = example("quickstart")
    answers = await qs.main(SimEngine(responder=qs.respond))
    assert answers == ["17 * 23 = 391", "2 ** 10 = 1024", "sum(range(100)) = 4950", "round(3.14159 * 2, 2) = 6.28",
                       "len('agentrt') = 7", "max(4, 9, 2) = 9", "7 // 2 = 3", "abs(-42) = 42"]
    filler = await qs.main(SimEngine())
    # filler is not Python: reported, not raised
    assert len(filler) == len(qs.QUESTIONS) and all(a.endswith("error (exit 1)") for a in filler)


async def test_swe_agent_submits_with_the_scripted_model(anyio_backend: object) -> None:
    swe = example("swe_agent")
    results = await swe.main(SimEngine(responder=swe.scripted_responder), "agentrt")
    assert [r["output"] for r in results] == ["55", "6765", "832040"]
    assert all(r["status"] == "submitted" and r["steps"] == 4 for r in results)


async def test_swe_agent_returns_format_errors_and_stops_at_the_step_limit(anyio_backend: object) -> None:
    swe = example("swe_agent")
    seen: list[Any] = []

    def filler_watching(request: Any) -> str:
        seen.append(request.prompt)
        return "no code block here"

    async with swe.agentrt.Runtime(engine=SimEngine(responder=filler_watching)) as rt:
        result = await rt.submit(swe.swe_agent, "anything", max_steps=3)
    assert result == {"status": "step limit", "steps": 3, "output": ""}
    assert "EXACTLY ONE action" in seen[-1][-1]["content"] and len(seen) == 3


async def test_swe_agent_tells_the_model_about_a_timeout(anyio_backend: object, tmp_path: Path) -> None:
    swe = example("swe_agent")
    replies = iter(["```bash\nsleep 30\n```", f"```bash\necho {swe.DONE}; echo gave up\n```"])
    prompts: list[Any] = []

    def respond(request: Any) -> str:
        prompts.append(request.prompt)
        return next(replies)

    async with swe.agentrt.Runtime(engine=SimEngine(responder=respond)) as rt:
        result = await rt.submit(swe.swe_agent, "t", workdir=str(tmp_path), command_timeout=0.3)
    assert result == {"status": "submitted", "steps": 2, "output": "gave up"}
    assert "timed out" in prompts[1][-1]["content"]


async def test_map_reduce(anyio_backend: object) -> None:
    mr = example("map_reduce")
    summaries = await mr.main(SimEngine(responder=mr.scripted_responder), "atlas")
    first_sentences = mr.sentences(mr.DOCUMENT)
    assert summaries[0] == " ".join(first_sentences)  # one sentence per chunk: each survives
    assert len(await mr.main(SimEngine(), "plas")) == 3


async def test_map_reduce_is_a_fan_out_fan_in_dag(anyio_backend: object) -> None:
    mr = example("map_reduce")
    async with mr.agentrt.Runtime(engine=SimEngine(responder=mr.scripted_responder)) as rt:
        handle = rt.submit(mr.map_reduce, mr.DOCUMENT, 5)
        await handle
    maps = [n for n, d in handle.graph.nodes(data=True) if d["record"].name == "map"]
    (reduce_call,) = [n for n, d in handle.graph.nodes(data=True) if d["record"].name == "reduce"]
    assert len(maps) == 2 and sorted(handle.graph.predecessors(reduce_call)) == sorted(maps)
    assert handle.record.num_calls == 3 and handle.graph.number_of_nodes() == 3


async def test_tree_search(anyio_backend: object) -> None:
    ts = example("tree_search")
    results = await ts.main(SimEngine(responder=ts.scripted_responder))
    assert results == [{"solved": True, "path": ["+3", "*2", "*2"], "nodes": 14},
                       {"solved": True, "path": ["+3", "*2", "*2", "-1"], "nodes": 20},
                       {"solved": True, "path": ["*2", "*2", "*2"], "nodes": 14}]
    unsolved = await ts.main(SimEngine())
    assert unsolved == [{"solved": False, "path": [], "nodes": 1}] * 3  # filler never parses: no node grows


# What each script prints with its scripted model, JCTs masked (they follow the simulator's cost model).
SCRIPT_OUTPUT = {
    "quickstart": [
        " p1  17 * 23 = 391                JCT <t> s",
        " p2  2 ** 10 = 1024               JCT <t> s",
        " p3  sum(range(100)) = 4950       JCT <t> s",
        " p4  round(3.14159 * 2, 2) = 6.28 JCT <t> s",
        " p5  len('agentrt') = 7           JCT <t> s",
        " p6  max(4, 9, 2) = 9             JCT <t> s",
        " p7  7 // 2 = 3                   JCT <t> s",
        " p8  abs(-42) = 42                JCT <t> s",
    ],
    "map_reduce": [  # calls: one map per chunk of the 10 sentences, then one reduce
        "p1 (11 calls, 1 sentence(s) per chunk, JCT <t> s): ",
        "p2 (6 calls, 2 sentence(s) per chunk, JCT <t> s): ",
        "p3 (3 calls, 5 sentence(s) per chunk, JCT <t> s): ",
    ],
    "tree_search": [
        "p1: 3 -> 24: +3 *2 *2 (14 nodes, 15 calls, JCT <t> s)",
        "p2: 2 -> 19: +3 *2 *2 -1 (20 nodes, 21 calls, JCT <t> s)",
        "p3: 5 -> 40: *2 *2 *2 (14 nodes, 15 calls, JCT <t> s)",
    ],
    "swe_agent": [
        "p1: submitted after 4 steps, output '55', 7 calls, JCT <t> s",
        "p2: submitted after 4 steps, output '6765', 7 calls, JCT <t> s",
        "p3: submitted after 4 steps, output '832040', 7 calls, JCT <t> s",
    ],
}


@pytest.mark.parametrize("name", sorted(SCRIPT_OUTPUT))
def test_runs_as_a_script(name: str) -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py")], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = re.sub(r"JCT \d+\.\d+ s", "JCT <t> s", done.stdout).splitlines()
    if name == "map_reduce":  # the summaries are checked in test_map_reduce
        lines = [line[:line.index("): ") + 3] for line in lines]
    assert lines == SCRIPT_OUTPUT[name]
