#!/usr/bin/env python
# Session 7, task C (README "Ninth pass on the merged main"): experiment script, reverted after use.
"""sim_speed.py's offline run (66 SWE-bench programs at once, H100 profile, default cache) under agentrt
with a given order_preemption_level; prints simulated makespan, mean / p99 JCT and per-program JCT."""
import json, sys, time
sys.path.insert(0, "benchmarks")
import anyio, sim_speed, trio
from trio.testing import MockClock
from agentrt.engine_adapters.sim import SimEngine
from agentrt.programs.tokens import Tokens
from agentrt.runtime.scheduling.policies import PolicyConfig
level = None if sys.argv[1] == "None" else int(sys.argv[1])
programs = sim_speed.load_programs(sim_speed.TRACE, int(sys.argv[2]) if len(sys.argv) > 2 else None)
jct = {}
async def one(engine, program):
    await sim_speed.replay(engine, program, Tokens.empty())
    jct[program["program_id"]] = anyio.current_time()
async def run():
    engine = SimEngine("llama-3.1-8b-h100", record_iterations=0, fast_forward=True)
    async with anyio.create_task_group() as eg:
        await engine.start(PolicyConfig(name="agentrt", order_preemption_level=level), eg)
        async with anyio.create_task_group() as tg:
            for p in programs:
                tg.start_soon(one, engine, p)
        await engine.stop()
    return engine.statistics(), trio.current_time()
wall = time.perf_counter()
stats, simulated = trio.run(run, clock=MockClock(autojump_threshold=0))
v = sorted(jct.values())
print(f"order_preemption_level {level}: programs {len(v)} makespan {simulated:.1f} s mean JCT {sum(v)/len(v):.1f} s "
      f"p99 {v[min(len(v)-1, int(0.99*len(v)))]:.1f} wall {time.perf_counter()-wall:.1f} s")
print(stats)
print("JCT " + json.dumps({k: round(x, 2) for k, x in jct.items()}))
