"""Session 7 experiment (reverted): mean JCT and engine busy share (busy time / makespan), fcfs and agentrt, on the 16 1024-token cells of the cpu grid, the 12-program / 36-block and default 8-program settings, and the bench profile."""
import sys; sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parent))
from pathlib import Path
import held_out_gate as h, vllm_cpu as bench
path = Path('docs/vllm_cpu_runs_s5.jsonl')
runs = bench.read_runs(path); profile = bench.calibrated_profile(runs, path); last = runs[-1]; latency = bench.client_latency(runs)
cells = h.cpu_grid()[:16] + [(12, 2.0, 36, 8, 1024, 0), (8, 2.0, 48, 5, 1024, 0)]
for n, rate, blocks, steps, max_len, seed in cells:
    w = dict(last.workload, programs=n, rate=rate, num_gpu_blocks=blocks, steps=steps, max_model_len=max_len, tool_scale=1.0, seed=seed)
    work = bench.workload(w)
    out = []
    for p in ("fcfs", "agentrt"):
        r = h.sim_run(w, profile, p, work, latency)
        out.append((r.summary.mean_jct, r.engine_stats.busy_time / r.summary.makespan))
    print(f"{n}p {blocks}b {steps}s {rate}/s: fcfs {out[0][0]:.2f} busy {out[0][1]:.2f} | agentrt {out[1][0]:.2f} busy {out[1][1]:.2f} | ratio {out[1][0]/out[0][0]:.3f}")
# bench profile
from agentrt.engine_adapters.vllm.tiny_model import MAX_POSITIONS, SHAPES, VOCAB_SIZE
SHAPE = SHAPES["bench"]
MODEL = {"num_hidden_layers": SHAPE.num_layers, "hidden_size": SHAPE.hidden_size, "intermediate_size": SHAPE.intermediate_size, "num_attention_heads": SHAPE.num_heads, "num_key_value_heads": SHAPE.num_heads, "vocab_size": VOCAB_SIZE, "max_position_embeddings": MAX_POSITIONS}
W = {"programs": 8, "steps": 5, "rate": 2.0, "seed": 0, "num_gpu_blocks": 48, "max_num_seqs": 8, "max_model_len": 1024}
bp = bench.bench_profile(MODEL, 8); work = bench.workload(W)
for p in ("fcfs", "agentrt"):
    r = bench.sim_run(W, bp, p, work)
    print("bench profile", p, round(r.summary.mean_jct, 2), "busy", round(r.engine_stats.busy_time / r.summary.makespan, 2), "computed", bench.counts_of(r)["computed"])
