"""Session 7 experiment (reverted): agentrt variants (PolicyConfig extras) vs fcfs on a held_out_gate grid, summary last. usage: s7_gate_variants.py cpu|cpu2 "dict(...)" [label] [cell filter]"""
import sys, json, math, os
from pathlib import Path
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parent))
import held_out_gate as h, vllm_cpu as bench
from agentrt.runtime.scheduling.policies import PolicyConfig
grid_name = sys.argv[1]; extra = eval(sys.argv[2]); label = sys.argv[3] if len(sys.argv) > 3 else str(extra)
grid = h.cpu_grid() if grid_name == "cpu" else h.cpu2_grid()
if len(sys.argv) > 4: grid = [g for g in grid if eval(sys.argv[4], {}, dict(zip(("n", "rate", "blocks", "steps", "max_len", "seed"), g)))]
path = Path('docs/vllm_cpu_runs_s5.jsonl')
runs = bench.read_runs(path); profile = bench.calibrated_profile(runs, path); last = runs[-1]; latency = bench.client_latency(runs)
cache_f = Path(f'/tmp/held_out_fcfs_{grid_name}.json'); cache = json.loads(cache_f.read_text()) if cache_f.exists() else {}
rows = []
for n, rate, blocks, steps, max_len, seed in grid:
    w = dict(last.workload, programs=n, rate=rate, num_gpu_blocks=blocks, steps=steps, max_model_len=max_len, tool_scale=1.0, seed=seed)
    work = bench.workload(w)
    cell = f"{n}p {blocks}b {steps}s {rate:g}/s len {max_len} seed {seed}"
    if cell not in cache:
        s = h.sim_run(w, profile, "fcfs", work, latency).summary; cache[cell] = [s.mean_jct, s.p99_jct]
    a = h.sim_run(w, profile, PolicyConfig(name="agentrt", **extra), work, latency).summary
    f = cache[cell]
    rows.append((cell, a.mean_jct / f[0], a.p99_jct / f[1], a.mean_jct, a.p99_jct, a.num_failed))
    print(f"{cell} | {f[0]:.2f} / {f[1]:.2f} | {a.mean_jct:.2f} / {a.p99_jct:.2f} | {a.mean_jct/f[0]:.3f} | {a.p99_jct/f[1]:.3f}{' FAILED %d' % a.num_failed if a.num_failed else ''}", flush=True)
cache_f.write_text(json.dumps(cache))
geo = lambda xs: math.exp(sum(map(math.log, xs)) / len(xs))
print(f"SUMMARY {label}: cells {len(rows)}, mean>1.02: {sum(r[1] > 1.02 for r in rows)}, p99>fcfs: {sum(r[2] > 1.0 for r in rows)}, "
      f"geo mean {geo([r[1] for r in rows]):.3f}, geo p99 {geo([r[2] for r in rows]):.3f}, worst mean {max(r[1] for r in rows):.3f}, worst p99 {max(r[2] for r in rows):.3f}")
