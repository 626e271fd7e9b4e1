"""A held-out check of the residency gate's idle release (`residency_idle_reprefill`, k = 16),
on settings not used to pick k (docs/scheduling.md, "Eighth pass", "Held out"; issue 15).

    .venv/bin/python benchmarks/held_out_gate.py cpu [--results docs/vllm_cpu_runs_s5.jsonl]
    .venv/bin/python benchmarks/held_out_gate.py cpu2 [--results docs/vllm_cpu_runs_s5.jsonl]
    .venv/bin/python benchmarks/held_out_gate.py h100
    .venv/bin/python benchmarks/held_out_gate.py h100 --seeds 8,9,10   # mixed, 24 programs, 8,000 blocks, 0.1/s

Prints mean and p99 JCT per cell for fcfs, continuum (cpu only), agentrt, and agentrt with the
rule off (`residency_idle_reprefill=None`, the fixed `residency_idle_s` gate), with agentrt over
fcfs and agentrt over the rule-off gate. The grid was fixed before any of it was run:

cpu: the simulator calibrated on session 5's real vLLM CPU runs (as `vllm_cpu_anatomy.py`),
    programs 10/16 x blocks 40/64 x steps 5/8 x rates 1/3 per s (max_model_len 1024), and
    max_model_len 2048 with programs 10/16, 80 blocks, 6 calls, 2 per s (tuned on: 12 programs /
    36 blocks / 8 calls, 8 / 48 / 5, both at 2 per s, and the 2048-token 72/96-block settings).
h100: the llama-3.1-8b-h100 profile: the full SWE-bench trace (66 programs, full cache, seed 0)
    at 0.035 and 0.045 per s (fcfs's knee is 0.0385); BFCL (84 programs drawn, seed 0) at 0.5
    and 2 per s on the full cache and on 1,000 blocks; mixed, 24 programs, seed 7, 8,000 blocks
    at 0.05 and 0.1 per s; mixed, 32 programs, seed 5, 16,000 blocks at 0.15 per s (tuned on: the
    fifth pass's 14 runs and `make run`'s 16 mixed programs, seed 0).
cpu2 (session 7, issue 15's low-load losses): the `cpu` grid above was used to tune the gate's fix,
    so it is no longer held out; this second calibrated grid was fixed and committed before any
    candidate ran on it: programs 12/20 x blocks 48/56 x steps 4/6/10 x rates 0.5/1.5/2.5 per s,
    arrival seed 1 (the `cpu` grid's seed is 0), max_model_len 1024.
`h100 --seeds` was added after the grid ran: the cell where the rule lost most (mixed, 24
programs, 8,000 blocks, 0.1 per s) on other seeds.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

from agentrt.engine_adapters.factory import create_engine
from agentrt.replay.driver import ReplayResult, replay
from agentrt.replay.mix import load_mix, parse_mix
from agentrt.replay.workload import make_scaling, poisson_arrivals
from agentrt.runtime.runner import run
from agentrt.runtime.scheduling.policies import PolicyConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vllm_cpu as bench  # noqa: E402  (a sibling script: its workload and calibration)

RULE_OFF = "agentrt-rule-off"
Cell = tuple[int, float, int, int, int, int]  # programs, rate, blocks, steps, max_model_len, seed


def policy_of(label: str) -> str | PolicyConfig:
    return PolicyConfig(name="agentrt", residency_idle_reprefill=None) if label == RULE_OFF else label


def print_cell(cell: str, results: dict[str, ReplayResult]) -> None:
    fcfs, agentrt, off = (results[p].summary for p in ("fcfs", "agentrt", RULE_OFF))
    parts = [f"{p} {r.summary.mean_jct:.2f} / {r.summary.p99_jct:.2f}" for p, r in results.items()]
    print(f"| {cell} | " + " | ".join(parts) + f" | {agentrt.mean_jct / fcfs.mean_jct:.3f} | "
          f"{agentrt.p99_jct / fcfs.p99_jct:.3f} | {agentrt.mean_jct / off.mean_jct:.3f} |", flush=True)


def cpu_grid() -> list[Cell]:
    """The `cpu` grid."""
    grid = [(n, rate, blocks, steps, 1024, 0)
            for n, blocks, steps, rate in itertools.product((10, 16), (40, 64), (5, 8), (1.0, 3.0))]
    return grid + [(10, 2.0, 80, 6, 2048, 0), (16, 2.0, 80, 6, 2048, 0)]


def cpu2_grid() -> list[Cell]:
    """The `cpu2` grid (session 7): fixed before any candidate ran on it."""
    return [(n, rate, blocks, steps, 1024, 1)
            for n, blocks, steps, rate in itertools.product((12, 20), (48, 56), (4, 6, 10), (0.5, 1.5, 2.5))]


def cpu_cells(results_path: Path, grid: list[Cell],
              policies: tuple[str, ...] = ("fcfs", "continuum", "agentrt", RULE_OFF)
              ) -> Iterator[tuple[Cell, dict[str, ReplayResult]]]:
    """Each cell of `grid` on the simulator calibrated on `results_path`'s runs (their last
    workload, with the cell's settings), under each of `policies`."""
    runs = bench.read_runs(results_path)
    profile = bench.calibrated_profile(runs, results_path)
    last = runs[-1]
    latency = bench.client_latency(runs)
    for cell in grid:
        n, rate, blocks, steps, max_len, seed = cell
        w = dict(last.workload, programs=n, rate=rate, num_gpu_blocks=blocks, steps=steps, max_model_len=max_len,
                 tool_scale=1.0, seed=seed)
        work = bench.workload(w)
        yield cell, {p: bench.sim_run(w, profile, policy_of(p), work, latency) for p in policies}


def cpu(results_path: Path, grid: list[Cell]) -> None:
    for (n, rate, blocks, steps, max_len, seed), results in cpu_cells(results_path, grid):
        print_cell(f"{n}p {blocks}b {steps}s {rate:g}/s len {max_len} seed {seed}", results)


def h100(seeds: list[int] | None) -> None:
    cells = [("swebench-lite-deepseek-v3", 0, 0, 0, rate) for rate in (0.035, 0.045)]
    cells += [("bfcl-v4-multiturn-gptoss120b", 84, 0, blocks, rate) for blocks in (0, 1000) for rate in (0.5, 2.0)]
    cells += [("mixed", 24, 7, 8000, rate) for rate in (0.05, 0.1)] + [("mixed", 32, 5, 16000, 0.15)]
    if seeds:
        cells = [("mixed", 24, seed, 8000, 0.1) for seed in seeds]
    for workload, n, seed, blocks, rate in cells:
        programs = load_mix(parse_mix(workload), programs=n or None, seed=seed)
        scaling = make_scaling(programs)
        arrivals = poisson_arrivals(len(programs), rate, seed)
        options: dict[str, object] = {"profile": "llama-3.1-8b-h100"}
        if blocks:
            options["num_gpu_blocks"] = blocks

        def one(policy: str | PolicyConfig) -> ReplayResult:
            async def main() -> ReplayResult:
                engine = create_engine("sim", **options)  # type: ignore[arg-type]
                return await replay(programs, engine, policy, arrivals, scaling, rate=rate)
            return run(main, virtual_time=True)

        results = {p: one(policy_of(p)) for p in ("fcfs", "agentrt", RULE_OFF)}
        print_cell(f"{workload} {len(programs)}p seed {seed} {blocks or 'full'} blocks {rate:g}/s", results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("grid", choices=("cpu", "cpu2", "h100"))
    parser.add_argument("--results", type=Path, default=Path("docs/vllm_cpu_runs_s5.jsonl"))
    parser.add_argument("--seeds", type=lambda text: [int(x) for x in text.split(",")], default=None,
                        help="h100: mixed, 24 programs, 8,000 blocks, 0.1/s on these seeds instead of the grid")
    args = parser.parse_args()
    print("| cell | per policy: mean / p99 JCT (s) | agentrt / fcfs mean | agentrt / fcfs p99 | agentrt / rule off |")
    if args.grid == "h100":
        h100(args.seeds)
    else:
        cpu(args.results, cpu_grid() if args.grid == "cpu" else cpu2_grid())


if __name__ == "__main__":
    main()
