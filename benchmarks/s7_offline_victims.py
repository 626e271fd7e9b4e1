#!/usr/bin/env python
# Session 7, task C (README "Ninth pass on the merged main"): experiment script, reverted after use.
"""sim_identity's offline run (20 SWE-bench programs at once, 5,000 blocks, H100 profile) under agentrt with a
given order_preemption_level; logs every preemption for order (victims_for) and every blocked attempt, and
per-program JCT."""
import json, sys
import anyio
from agentrt.engine_adapters.factory import create_engine
from agentrt.replay.driver import replay
from agentrt.replay.trace import BUNDLED, load_trace
from agentrt.replay.workload import make_scaling, offline_arrivals
from agentrt.runtime.runner import run
from agentrt.runtime.scheduling import scheduler as S
from agentrt.runtime.scheduling.policies import PolicyConfig

level = None if sys.argv[1] == "None" else int(sys.argv[1])
extra = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
programs = load_trace(BUNDLED / "swebench-lite-deepseek-v3.jsonl")[:20]
log = []
orig = S.ProgramScheduler.victims_for
def victims_for(self, candidate, running, num_blocks, blocks_freed):
    out = orig(self, candidate, running, num_blocks, blocks_freed)
    last = self.pick_victim(list(running))
    ctx = lambda c: self.programs[c.program_id].context_tokens
    svc = lambda c: self.programs[c.program_id].service if hasattr(self.programs[c.program_id], "service") else -1
    log.append(dict(t=round(anyio.current_time(), 1), cand=candidate.program_id, cl=candidate.level,
                    need=num_blocks, last=(last.program_id, last.level, last.num_promotions, ctx(last), last.key[:1], round(self.programs[last.program_id].service + last.service, 1)) if last else None,
                    victims=[(v.program_id, v.level, v.num_promotions, round(self.programs[v.program_id].service + v.service, 1), ctx(v)) for v in out], run=sorted((c.level, c.key[:1]) for c in running)))
    return out
S.ProgramScheduler.victims_for = victims_for
async def main():
    engine = create_engine("sim", profile="llama-3.1-8b-h100", num_gpu_blocks=5000)
    return await replay(programs, engine, PolicyConfig(name="agentrt", order_preemption_level=level, **extra),
                        offline_arrivals(len(programs)), make_scaling(programs))
res = run(main, virtual_time=True)
s = res.summary
print(f"level {level} {extra}: mean {s.mean_jct:.1f} p99 {s.p99_jct:.1f}")
took = [e for e in log if e["victims"]]
print(f"victims_for calls {len(log)}, with victims {len(took)}, victims {sum(len(e['victims']) for e in took)}")
for e in took: print("TOOK", e)
blocked = [e for e in log if not e["victims"]]
from collections import Counter
print("blocked by (cand level, last level):", Counter((e["cl"], e["last"][1] if e["last"] else None) for e in blocked))
print("JCT", json.dumps({m.program_id: (round(m.jct, 1), m.preemptions, round(m.queueing_delay, 1)) for m in res.metrics}))
seen = {}
for e in blocked:
    if e["last"] and e["cl"] < e["last"][1] < 3:
        seen.setdefault((e["cand"], e["last"][0]), e)
for (c, v), e in seen.items():
    print("BLOCKED first at", e["t"], "cand", c, "level", e["cl"], "victim (id, level, promotions, context, key)", e["last"])
