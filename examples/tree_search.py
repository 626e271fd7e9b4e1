"""A LATS-style tree search: select a leaf by UCT, expand it with several proposals in parallel,
score each new node with a value call, back the scores up, repeat.

The puzzle: reach `target` from `start` with the operations +3, *2 and -1, one per step. Each
expansion is a sub-program (`expand`) that asks the model for the next operation and then asks it
to rate the new number; the search stops when a node reaches the target or after `iterations`.

    python examples/tree_search.py                          # simulated engine, scripted model
    python examples/tree_search.py --engine vllm --model DIR
    agentrt submit examples/tree_search.py:tree_search --n 10 --responder scripted_responder
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import agentrt
from agentrt.engines import engine_from_argv

OPS = {"+3": lambda x: x + 3, "*2": lambda x: x * 2, "-1": lambda x: x - 1}
OP = re.compile(r"(\+\s*3|\*\s*2|-\s*1)")
NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(slots=True, eq=False)
class Node:
    value: int
    path: tuple[str, ...] = ()
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    visits: int = 0
    total: float = 0.0

    def uct(self, c: float = 0.5) -> float:
        assert self.parent is not None
        return self.total / self.visits + c * math.sqrt(math.log(self.parent.visits) / self.visits)


@agentrt.program
async def expand(value: int, target: int, path: list[str], k: int) -> tuple[str, int, float] | None:
    """One proposal: the next operation (LLM), then a 0-10 rating of the new number (value LLM)."""
    ask = (f"Reach {target} from {value} using +3, *2 or -1, one per step. Steps so far: {path or 'none'}. "
           f"Proposal #{k}: reply with the next operation only.")
    reply = await agentrt.llm(ask, max_tokens=8, temperature=0.8, name="propose")
    if (m := OP.search(reply.text)) is None:
        return None
    op = m.group(1).replace(" ", "")
    new = OPS[op](value)
    judged = await agentrt.llm(f"Rate from 0 to 10 how close {new} is to {target}. Reply with the number only.",
                               max_tokens=4, name="value")
    score = float(s.group()) if (s := NUMBER.search(judged.text)) else 0.0
    return op, new, min(10.0, score) / 10


def select(root: Node) -> Node:
    node = root
    while node.children:
        node = max(node.children, key=Node.uct)
    return node


def backup(node: Node | None, score: float) -> None:
    while node is not None:
        node.visits += 1
        node.total += score
        node = node.parent


@agentrt.program
async def tree_search(start: int = 3, target: int = 24, width: int = 3, iterations: int = 10) -> dict[str, Any]:
    """Search for a sequence of operations from `start` to `target`."""
    root = Node(start, visits=1)
    num_nodes = 1
    for _ in range(iterations):
        leaf = select(root)
        proposals = await agentrt.gather(*(expand(leaf.value, target, list(leaf.path), k) for k in range(width)))
        for op, new, score in filter(None, proposals):
            child = Node(new, leaf.path + (op,), leaf)
            leaf.children.append(child)
            num_nodes += 1
            backup(child, score)
            if new == target:
                return {"solved": True, "path": list(child.path), "nodes": num_nodes}
        if not leaf.children:  # nothing parsable came back: give this leaf up
            backup(leaf, 0.0)
    return {"solved": False, "path": [], "nodes": num_nodes}


def scripted_responder(request: agentrt.GenerationRequest) -> str:
    """The simulated model: proposal #k is the k-th best operation by distance to the target; the
    rating falls from 10 at the target to 0 at a distance of the target itself."""
    prompt = request.prompt if isinstance(request.prompt, str) else ""
    if m := re.match(r"Reach (\d+) from (-?\d+).*Proposal #(\d+)", prompt):
        target, value, k = (int(g) for g in m.groups())
        ranked = sorted(OPS, key=lambda op: abs(target - OPS[op](value)))
        return ranked[k % len(ranked)]
    if m := re.match(r"Rate from 0 to 10 how close (-?\d+) is to (\d+)", prompt):
        value, target = int(m.group(1)), int(m.group(2))
        return str(round(10 * max(0.0, 1 - abs(target - value) / target)))
    return "I cannot help with that."


async def main(engine: agentrt.Engine, policy: str = "agentrt") -> list[dict[str, Any]]:
    puzzles = [(3, 24), (2, 19), (5, 40)]
    async with agentrt.Runtime(engine=engine, policy=policy) as rt:
        handles = [rt.submit(tree_search, start, target) for start, target in puzzles]
        results = await rt.wait(handles)
    for (start, target), handle, result in zip(puzzles, handles, results):
        found = " ".join(result["path"]) if result["solved"] else "not found"
        print(f"{handle.program_id}: {start} -> {target}: {found} ({result['nodes']} nodes, "
              f"{handle.record.num_calls} calls, JCT {handle.record.jct:.2f} s)")
    return results


if __name__ == "__main__":
    engine_from_argv(None, responder=scripted_responder, description=__doc__).run(main)
