"""Simulated runs are identical across processes, hash seeds and trio's scheduling order.

trio runs the tasks woken at one instant in an unseeded random order; a router decides calls in
the order they reach it. Programs that start together, or whose calls finish in one step, reach
the router at one instant: before routing was put in (program, call) order, round-robin sent them
to different replicas from run to run (README "Replicas" measured 258.7 vs 255.0 s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Six programs started together, each with its own context, calling the LLM in rounds of equal
# output lengths: each round's calls finish in one iteration, so all six reach the router at one
# instant; a program routed off its replica prefills its context again there.
_RUN = """
import json
import agentrt
from agentrt.engine_adapters.sim.replicas import sim_replicas
from agentrt.programs.tokens import Tokens

@agentrt.program
async def rounds(n: int) -> None:
    context = Tokens.synthetic(512 + 256 * n, key=f"rounds/{{n}}")
    for i in range(5):
        done = await agentrt.llm(context + Tokens.synthetic(32, key=f"{{n}}/{{i}}"), max_tokens=16, ignore_eos=True)
        context = done.context

async def main():
    engine = sim_replicas(2, "{router}", num_gpu_blocks=4096)
    async with agentrt.Runtime(engine=engine, policy="agentrt") as rt:
        await rt.wait([rt.submit(rounds, n) for n in range(6)])
        return [(r.program_id, (r.finish - r.start).hex()) for r in rt.records], engine.statistics()

if __name__ == "__main__":
    records, stats = agentrt.run(main)
    print(json.dumps({{"programs": sorted(records), "calls_per_replica": stats.calls_per_replica}}))
"""


def _run(router: str, hash_seed: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    out = subprocess.run([sys.executable, "-c", _RUN.format(router=router)], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    result: dict[str, object] = json.loads(out.stdout.splitlines()[-1])
    return result


@pytest.mark.parametrize("router", ["round-robin", "least-loaded"])
def test_replicas_give_the_same_run_in_every_process(router: str) -> None:
    runs = [_run(router, seed) for seed in ("0", "1", "1")]  # the repeat: trio's order, not the hash seed
    assert len(runs[0]["programs"]) == 6  # type: ignore[arg-type]
    assert runs[1] == runs[0]
    assert runs[2] == runs[0]
