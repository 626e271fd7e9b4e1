"""Session 7 experiment (reverted): the calibrated 12-program / 36-block and default 8-program settings and the bench profile, for an agentrt variant. usage: s7_gate_guards.py "dict(...)" """
import sys
sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parent))
from pathlib import Path
import held_out_gate as h, vllm_cpu as bench
from agentrt.runtime.scheduling.policies import PolicyConfig
extra = eval(sys.argv[1])
pol = PolicyConfig(name="agentrt", **extra)
path = Path('docs/vllm_cpu_runs_s5.jsonl')
runs = bench.read_runs(path); profile = bench.calibrated_profile(runs, path); last = runs[-1]; latency = bench.client_latency(runs)
out = []
for n, rate, blocks, steps in ((12, 2.0, 36, 8), (8, 2.0, 48, 5)):
    w = dict(last.workload, programs=n, rate=rate, num_gpu_blocks=blocks, steps=steps, max_model_len=1024, tool_scale=1.0, seed=0)
    r = h.sim_run(w, profile, pol, bench.workload(w), latency)
    out.append(f"{n}p{blocks}b: {r.summary.mean_jct:.2f} p99 {r.summary.p99_jct:.2f} computed {bench.counts_of(r)['computed']}")
from agentrt.engine_adapters.vllm.tiny_model import MAX_POSITIONS, SHAPES, VOCAB_SIZE
S = SHAPES["bench"]
MODEL = {"num_hidden_layers": S.num_layers, "hidden_size": S.hidden_size, "intermediate_size": S.intermediate_size, "num_attention_heads": S.num_heads, "num_key_value_heads": S.num_heads, "vocab_size": VOCAB_SIZE, "max_position_embeddings": MAX_POSITIONS}
W = {"programs": 8, "steps": 5, "rate": 2.0, "seed": 0, "num_gpu_blocks": 48, "max_num_seqs": 8, "max_model_len": 1024}
r = h.sim_run(W, bench.bench_profile(MODEL, 8), pol, bench.workload(W), (0.0, 0.0))
out.append(f"bench profile: {r.summary.mean_jct:.2f} computed {bench.counts_of(r)['computed']}")
print(extra, " | ".join(out))
