"""The CPU benchmark's workload (benchmarks/vllm_cpu.py) on the simulator, virtual time: memory-bound
as designed, and the simulated win the real runs are compared with."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from agentrt.engine_adapters.vllm.tiny_model import MAX_POSITIONS, SHAPES, VOCAB_SIZE
from agentrt.replay.trace import LLMStep

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("vllm_cpu_bench", ROOT / "benchmarks" / "vllm_cpu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module's annotations through it
    spec.loader.exec_module(module)
    return module


def test_the_workload_is_memory_bound_and_agentrt_computes_less_on_the_simulator(bench: ModuleType,
                                                                                  tmp_path: Path) -> None:
    args = argparse.Namespace(programs=12, steps=8, rate=4.0, seed=0, num_gpu_blocks=64, max_num_seqs=8)
    work = bench.workload(args)
    programs, scaling, _ = work
    contexts = [scaling.tokens([s for s in p.steps if isinstance(s, LLMStep)][-1].input_tokens) for p in programs]
    assert sum(contexts) > 2 * (args.num_gpu_blocks - 1) * bench.BLOCK_SIZE  # more live context than KV cache
    shape = SHAPES["bench"]
    (tmp_path / "config.json").write_text(json.dumps({  # what `agentrt model bench` writes, weights aside
        "num_hidden_layers": shape.num_layers, "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size, "num_attention_heads": shape.num_heads,
        "num_key_value_heads": shape.num_heads, "vocab_size": VOCAB_SIZE, "max_position_embeddings": MAX_POSITIONS}))
    profile = bench.bench_profile(str(tmp_path), args.max_num_seqs)
    fcfs, agentrt = (bench.sim_run(args, profile, policy, work) for policy in ("fcfs", "agentrt"))
    computed = {name: bench.counts_of(r)["computed"] for name, r in (("fcfs", fcfs), ("agentrt", agentrt))}
    # 0.60x with agentrt's residency_fraction 0.9 (issue 15's default; 0.30x with 0.5, whose gate
    # suits this 64-block cache better but made programs wait needlessly on the H100-sized ones)
    assert computed["agentrt"] <= 0.65 * computed["fcfs"]
    assert agentrt.summary.mean_jct < 0.8 * fcfs.summary.mean_jct
    assert fcfs.summary.num_failed == agentrt.summary.num_failed == 0
