"""The CPU benchmark's workload (benchmarks/vllm_cpu.py) on the simulator, virtual time: memory-bound
as designed, and the simulated win the real runs are compared with."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

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


def test_the_workload_is_memory_bound_and_agentrt_computes_less_on_the_simulator(bench: ModuleType) -> None:
    args = argparse.Namespace(programs=16, steps=8, rate=4.0, seed=0, num_gpu_blocks=64, max_num_seqs=8)
    work = bench.workload(args)
    programs, scaling, _ = work
    contexts = [scaling.tokens([s for s in p.steps if isinstance(s, LLMStep)][-1].input_tokens) for p in programs]
    assert sum(contexts) > 2 * (args.num_gpu_blocks - 1) * bench.BLOCK_SIZE  # more live context than KV cache
    profile = bench.bench_profile(args.max_num_seqs)
    fcfs, agentrt = (bench.sim_run(args, profile, policy, work) for policy in ("fcfs", "agentrt"))
    computed = {name: bench.counts_of(r)["computed"] for name, r in (("fcfs", fcfs), ("agentrt", agentrt))}
    assert computed["agentrt"] <= 0.6 * computed["fcfs"]
    assert agentrt.summary.mean_jct < 0.8 * fcfs.summary.mean_jct
    assert fcfs.summary.num_failed == agentrt.summary.num_failed == 0
