"""Session 7 experiment (reverted): trace one calibrated CPU cell. usage: s7_gate_trace.py PROGRAMS BLOCKS CALLS RATE [POLICY SEED EXTRAS [events]]; per program: time gated (waiting outside the working set), queued, in engine, tools and the rest; engine idle while programs are gated."""
import sys, math, collections
from pathlib import Path
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parent))
import held_out_gate as h, vllm_cpu as bench
from agentrt.runtime.scheduling import scheduler as S
from agentrt.runtime.scheduling.policies.base import CallPhase
from agentrt.runtime.scheduling.policies import PolicyConfig

n, blocks, steps, rate = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
policy = sys.argv[5] if len(sys.argv) > 5 else "agentrt"
seed = int(sys.argv[6]) if len(sys.argv) > 6 else 0
extra = eval(sys.argv[7]) if len(sys.argv) > 7 else {}
P = S.ProgramScheduler
ctxs = {}
ev = []  # (t, kind, program, call)
state = {"t": 0.0, "idle_gated": 0.0, "idle_any": 0.0, "sched": None, "idle_gated_n": 0}
def tick(self, now):
    st = state; st["sched"] = self
    dt = now - st["t"]
    if dt > 0:
        running = any(c.phase is CallPhase.RUNNING for c in self.calls.values())
        gated = bool(self._pending)
        waiting = bool(self._waiting)
        if not running and gated: st["idle_gated"] += dt
        if not running and (gated or waiting): st["idle_any"] += dt
    st["t"] = max(st["t"], now)
def wrap(name, tpos):
    f = getattr(P, name)
    def g(self, *a, **k):
        now = k.get("now", a[tpos] if len(a) > tpos else None)
        if now is not None: tick(self, now)
        r = f(self, *a, **k)
        if now is not None:
            if name == "add_call": ev.append((now, "arrive", a[1], a[0], r.pending)); ctxs[a[1]] = max(ctxs.get(a[1], 0), k.get("num_prompt_tokens", 0))
            elif name == "on_scheduled": ev.append((now, "sched", a[0].program_id, a[0].call_id))
            elif name == "on_call_finished": ev.append((now, "fin", a[0].program_id, a[0].call_id))
            elif name == "on_preempted": ev.append((now, "preempt", a[0].program_id, a[0].call_id))
        return r
    setattr(P, name, g)
wrap("add_call", 3); wrap("on_scheduled", 1); wrap("on_call_finished", 1); wrap("on_preempted", 1)
mr = P._make_resident; ap = P._admit_pending; cur = {"now": 0.0}
def ap2(self, now): cur["now"] = now; tick(self, now); return ap(self, now)
def mr2(self, program): ev.append((cur["now"], "join", program.program_id, "")); return mr(self, program)
P._admit_pending = ap2; P._make_resident = mr2
ei = P._evict_idle
def ei2(self, now, need, budget):
    before = {p.program_id for p in self.programs.values() if p.resident}
    r = ei(self, now, need, budget)
    after = {p.program_id for p in self.programs.values() if p.resident}
    for pid in before - after: ev.append((now, "leave_idle", pid, ""))
    return r
P._evict_idle = ei2

runs = bench.read_runs(Path('docs/vllm_cpu_runs_s5.jsonl'))
profile = bench.calibrated_profile(runs, Path('docs/vllm_cpu_runs_s5.jsonl'))
latency = bench.client_latency(runs)
w = dict(runs[-1].workload, programs=n, rate=rate, num_gpu_blocks=blocks, steps=steps, max_model_len=1024, tool_scale=1.0, seed=seed)
work = bench.workload(w)
pol = PolicyConfig(name=policy, **extra) if (extra or policy == "agentrt") else policy
res = h.sim_run(w, profile, pol, work, latency)
print("policy", policy, extra, "mean", round(res.summary.mean_jct, 3), "p99", round(res.summary.p99_jct, 3))
sch = state["sched"]
if sch is not None:
    print("kv_capacity_tokens", sch.kv_capacity_tokens, "budget", (sch.policy.config.residency_fraction or 1) * sch.kv_capacity_tokens)
print("engine idle with gated programs: %.2f s, with any waiting: %.2f s, makespan %.2f" % (state["idle_gated"], state["idle_any"], state["t"]))
# per-program breakdown
per = collections.defaultdict(lambda: collections.Counter())
calls = {}
for e in ev:
    t, k, pid, cid = e[:4]
    c = calls.setdefault(cid, {}) if cid else None
    if k == "arrive": c["arr"] = t; c["pend"] = e[4]; c["pid"] = pid; c.setdefault("join", None if e[4] else t)
    if k == "join":
        for cc in calls.values():
            if cc.get("pid") == pid and "sched" not in cc and cc.get("join") is None: cc["join"] = t
    if k == "sched": c.setdefault("sched", t); c["last_sched"] = t
    if k == "fin": c["fin"] = t
    if k == "preempt": c["npre"] = c.get("npre", 0) + 1
for cid, c in calls.items():
    if "fin" not in c: continue
    pid = c["pid"]; j = c["join"] if c["join"] is not None else c["arr"]
    per[pid]["gated"] += j - c["arr"]; per[pid]["queued"] += c["sched"] - j; per[pid]["engine"] += c["fin"] - c["sched"]
    per[pid]["calls"] += 1; per[pid]["pre"] += c.get("npre", 0); per[pid]["gated_calls"] += c["pend"]
jct = {m.program_id if hasattr(m, 'program_id') else None: m for m in res.metrics}
ms = sorted(res.metrics, key=lambda m: -m.jct)
recs = {r.program_id: r for r in res.records}
print("program | jct | gated | queued | engine | tools+other | calls gated | preemptions | ctx")
rows=[]
for r in res.records:
    d = per[r.program_id]
    other = r.jct - d["gated"] - d["queued"] - d["engine"]
    ctx = sch.programs[r.program_id].context_tokens if sch and r.program_id in sch.programs else ''
    rows.append((r.jct, r.program_id + " " + str(ctxs.get(r.program_id)), r.start, d, other))
for jct_, name, start, d, other in sorted(rows, key=lambda x: -x[0]):
    print(f"{name} start {start:.2f} | {jct_:.2f} | {d['gated']:.2f} | {d['queued']:.2f} | {d['engine']:.2f} | {other:.2f} | {d['gated_calls']}/{d['calls']} | {d['pre']}")
tot = collections.Counter()
for _, _, _, d, o in rows: tot.update(d); tot["other"] += o
print("totals", {k: round(v, 2) for k, v in tot.items()})
if len(sys.argv) > 8:
    for e in ev: print("%.3f" % e[0], *e[1:])
