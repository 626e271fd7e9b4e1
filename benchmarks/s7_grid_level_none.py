#!/usr/bin/env python
# Session 7, task C (README "Ninth pass on the merged main"): experiment script, reverted after use.
"""held_out_gate.py cpu|cpu2 with agentrt's order_preemption_level None (the rule off), printing agentrt / fcfs."""
import sys
sys.path.insert(0, "benchmarks")
import held_out_gate as h
from pathlib import Path
from agentrt.runtime.scheduling.policies import PolicyConfig
NOL = PolicyConfig(name="agentrt", order_preemption_level=None)
def cpu(results_path, grid):
    runs = h.bench.read_runs(results_path)
    profile = h.bench.calibrated_profile(runs, results_path)
    last = runs[-1]; latency = h.bench.client_latency(runs)
    for n, rate, blocks, steps, max_len, seed in grid:
        w = dict(last.workload, programs=n, rate=rate, num_gpu_blocks=blocks, steps=steps, max_model_len=max_len, tool_scale=1.0, seed=seed)
        work = h.bench.workload(w)
        f = h.sim_run(w, profile, "fcfs", work, latency).summary
        a = h.sim_run(w, profile, NOL, work, latency).summary
        print(f"| {n}p {blocks}b {steps}s {rate:g}/s len {max_len} seed {seed} | fcfs {f.mean_jct:.2f} / {f.p99_jct:.2f} | agentrt-level-None {a.mean_jct:.2f} / {a.p99_jct:.2f} | {a.mean_jct / f.mean_jct:.3f} | {a.p99_jct / f.p99_jct:.3f} |", flush=True)
cpu(Path("docs/vllm_cpu_runs_s5.jsonl"), h.cpu_grid() if sys.argv[1] == "cpu" else h.cpu2_grid())
