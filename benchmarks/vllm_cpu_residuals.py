"""Where the plugin's steps in a results file of benchmarks/vllm_cpu.py cost more than the step
model says: per run, the prefill steps that continue a cached context against the others, in wall
time and in the engine's CPU time, under a step model with one compute factor (attention priced as
matmul FLOPs) and under `calibrate`'s fit with its attention factor; the share of those steps'
wall time spent waiting for a CPU; and a least-squares fit of CPU time with a per-prefilling-request
term (a fixed cost the step model had not; `calibrate` now fits it too, on wall time, as
`Profile.overhead_per_prefill_s` when steps say their requests: `vllm_cpu.py summary`).

    .venv/bin/python benchmarks/vllm_cpu_residuals.py [--results docs/vllm_cpu_runs.jsonl]

A step "continues a cached context" when it computes over 1.5x the attention pairs its prefill
tokens would as a fresh prompt (beyond its decodes' pairs, counted at up to 2,000 tokens of
context each): a step record has counts, not requests, so this is a classification, not a label.
Reads the runs of the results file's last workload with one OpenMP thread (the plugin's steps;
stock's, recorded since session 6, are left out).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
from pathlib import Path

import numpy as np

from agentrt.engine_adapters.sim import MeasuredStep, Profile, calibrate
from agentrt.engine_adapters.sim.cost_model import CostModel
from agentrt.engine_adapters.vllm import StepRecord

_spec = importlib.util.spec_from_file_location("vllm_cpu_bench", Path(__file__).with_name("vllm_cpu.py"))
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench
_spec.loader.exec_module(bench)


def continues(s: StepRecord) -> bool:
    fresh = s.num_prefill_tokens * (s.num_prefill_tokens + 1) // 2
    return s.num_prefill_tokens > 0 and s.num_attention_pairs > 1.5 * fresh + 2000 * s.num_decode_tokens


def ratio(steps: list[StepRecord], cost: CostModel, cpu: bool) -> float:
    """Median measured / predicted seconds."""
    return statistics.median((s.cpu_seconds if cpu else s.seconds) / cost.iteration_time(
        s.num_prefill_tokens, s.num_decode_tokens, s.num_context_tokens, s.num_attention_pairs) for s in steps)


def waiting(steps: list[StepRecord]) -> float:
    return 1 - sum(s.cpu_seconds for s in steps) / sum(s.seconds for s in steps)


def per_request_fit(steps: list[StepRecord]) -> tuple[np.ndarray, float, float]:
    """CPU seconds = a + b prefill + c decode + d pairs + e context (+ f prefilling requests):
    the coefficients with f, and the mean |relative error| without and with it."""
    def features(s: StepRecord, with_requests: bool) -> list[float]:
        base = [1.0, s.num_prefill_tokens, s.num_decode_tokens, s.num_attention_pairs, s.num_context_tokens]
        return base + ([s.num_requests - s.num_decode_tokens] if with_requests else [])

    y = np.array([s.cpu_seconds for s in steps])
    errors, coefs = [], []
    for with_requests in (False, True):
        x = np.array([features(s, with_requests) for s in steps])
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        errors.append(float(np.mean(np.abs(x @ coef - y) / y)))
        coefs.append(coef)
    return coefs[1], errors[0], errors[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("docs/vllm_cpu_runs.jsonl"))
    parser.add_argument("--settings", choices=("old", "new", "all"), default="all",
                        help="runs without the plugin revision in their settings (old), with it (new), or both")
    args = parser.parse_args()
    every = bench.read_runs(args.results)
    last = every[-1]
    runs = [r for r in every if r.workload == last.workload and r.settings.get("omp_num_threads") == "1"
            and r.config != "stock" and r.steps
            and {"old": "plugin" not in r.settings, "new": "plugin" in r.settings, "all": True}[args.settings]]
    steps = [s for r in runs for s in r.steps]
    measured = [MeasuredStep(s.num_prefill_tokens, s.num_decode_tokens, s.num_context_tokens, s.seconds,
                             s.num_attention_pairs) for s in steps]
    base: Profile = bench.bench_profile(last.model, last.workload["max_num_seqs"])
    shared = calibrate(measured, base.with_factors(memory_efficiency=base.memory_efficiency, overhead_s=base.overhead_s,
                                                   compute_efficiency=base.compute_efficiency, attention_efficiency=1.0),
                       fit_attention=False)
    fitted = calibrate(measured, base)
    print(f"{len(runs)} plugin runs, {len(steps)} steps; one compute factor: {shared.compute_efficiency:.3f}, overhead "
          f"{shared.overhead_s * 1e3:.2f} ms; attention factor fitted: {fitted.attention_efficiency:.3f} "
          f"(compute efficiency {fitted.compute_efficiency:.3f}, overhead {fitted.overhead_s * 1e3:.2f} ms)")
    coef, error, error_with = per_request_fit(steps)
    print(f"CPU-time fit with a per-prefilling-request term: {coef[5] * 1e3:.2f} ms a prefilling request; "
          f"mean |error| {error:.1%} -> {error_with:.1%}\n")
    print("| round | config | continuing steps | wall / one-factor model | CPU / one-factor model | CPU / fitted "
          "model | CPU / per-request fit | waiting | other prefill steps: CPU / fitted model | waiting |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    one, fit = CostModel(shared), CostModel(fitted)
    for r in sorted(runs, key=lambda r: (r.round, r.config)):
        cont = [s for s in r.steps if continues(s)]
        other = [s for s in r.steps if s.num_prefill_tokens > 0 and not continues(s)]
        if not cont or not other:
            continue
        by_request = statistics.median(s.cpu_seconds / float(np.dot(coef, [
            1.0, s.num_prefill_tokens, s.num_decode_tokens, s.num_attention_pairs, s.num_context_tokens,
            s.num_requests - s.num_decode_tokens])) for s in cont)
        print(f"| {r.round} | {r.config} | {len(cont)} | {ratio(cont, one, False):.2f} | {ratio(cont, one, True):.2f} | "
              f"{ratio(cont, fit, True):.2f} | {by_request:.2f} | {waiting(cont):.0%} | {ratio(other, fit, True):.2f} | "
              f"{waiting(other):.0%} |")


if __name__ == "__main__":
    main()
