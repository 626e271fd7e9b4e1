"""Routers across simulated replicas: 4 replicas vs 1, same arrivals, one run.

Every engine runs the agentrt scheduling policy; what differs is the router in front. Steps:
1. U: the unloaded mean JCT (programs one at a time, one engine).
2. One engine: Poisson rates 2/U * sqrt(2)^k until mean JCT > 2U. c1 = the highest rate with
   mean JCT <= 2U (its capacity), k1 = the first rate past it (its knee).
3. N replicas, every router, at N * k1 (the N-replica knee) and at 3.8/4 * N * c1 (the capacity
   check: capacity(N) >= 3.8/4 * N * capacity(1) iff the mean JCT there stays <= 2U).
Same seed, so the same programs arrive at the same (rate-scaled) times in every run.

Per run: mean JCT, and its parts a router can and cannot move: a program's summed engine queue
wait (mean queueing) and the summed time its calls spent in engine iterations (mean engine service,
which grows with the batch it shares).

Two bounds run beside the routers, both labelled so: `clairvoyant`, a router that knows each
program's remaining work from the trace (`runtime/scheduling/routing/routers.py`), and `pooled`,
no router at all but the N replicas as one engine with their summed resources
(`engine_adapters/sim/replicas.py: pooled_profile`): perfect balance at every iteration and free
moves, which no router can beat by balancing while KV does not bind (docs/replicas.md).

Writes results.json, results.md and a PNG to --output (default results/replicas-<time>). Each run
is saved to results.json as it ends, and a later invocation with the same --output (and the same
other flags) reuses the saved runs, so the benchmark can be run in pieces (`--routers` picks the
routers of this piece).

Run: .venv/bin/python benchmarks/replicas.py [--workload swebench-lite-deepseek-v3] [--replicas 4]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from agentrt.engine_adapters.factory import create_engine
from agentrt.engine_adapters.sim import SimEngine
from agentrt.engine_adapters.sim.replicas import pooled_profile
from agentrt.replay.driver import ReplayResult, replay
from agentrt.replay.mix import load_mix, parse_mix
from agentrt.replay.workload import make_scaling, poisson_arrivals
from agentrt.runtime.scheduling.routing import RouterName
from agentrt.runtime.runner import run

CAPACITY_SHARE = 3.8 / 4  # the target: capacity(4) >= 3.8 * capacity(1)
POOLED = "pooled"  # the bound: N replicas as one engine (not a router)
ROUTERS = [r.value for r in RouterName] + [POOLED]


MAX_SWEEP_STEPS = 12


def replay_once(programs: list, replicas: int, router: str, rate: float | None, seed: int,
                options: dict[str, Any]) -> ReplayResult:
    arrivals = None if rate is None else poisson_arrivals(len(programs), rate, seed)
    scaling = make_scaling(programs)

    async def main() -> ReplayResult:
        if router == POOLED:
            blocks = options.get("num_gpu_blocks")
            engine = SimEngine(pooled_profile(replicas), **({"num_gpu_blocks": replicas * blocks} if blocks else {}))
        else:
            scale = {"replicas": replicas, "router": router} if replicas > 1 else {}
            engine = create_engine("sim", **scale, **options)
        return await replay(programs, engine, "agentrt", arrivals, scaling, rate=rate)

    return run(main, virtual_time=True)


def row(result: ReplayResult, replicas: int, router: str, wall_s: float) -> dict[str, Any]:
    s = result.summary
    prompt = sum(m.prompt_tokens for m in result.metrics)
    stats = result.engine_stats
    totals = stats.totals() if hasattr(stats, "totals") else {}
    n = len(result.metrics)
    return {"replicas": replicas, "router": router, "rate": result.rate, "mean_jct": s.mean_jct, "p95_jct": s.p95_jct,
            "mean_queueing": sum(m.queueing_delay for m in result.metrics) / n,
            "mean_service": sum(m.service for m in result.metrics) / n,
            "failed": s.num_failed, "prefix_hit_rate": s.prefix_hit_tokens / prompt if prompt else math.nan,
            "preemptions": s.preemptions, "moves": totals.get("moves", 0),
            "reprefilled_tokens": totals.get("num_reprefilled_tokens", getattr(stats, "num_reprefilled_tokens", 0)),
            "calls_per_replica": totals.get("calls_per_replica"), "wall_s": round(wall_s, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", default="swebench-lite-deepseek-v3")
    parser.add_argument("--programs", type=int, default=None, help="draw N programs (default: the trace's)")
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-gpu-blocks", type=int, default=None, help="KV blocks per engine (default: the profile's)")
    parser.add_argument("--output", type=Path, default=Path("results") / f"replicas-{time.strftime('%Y%m%d-%H%M%S')}")
    parser.add_argument("--routers", nargs="+", default=ROUTERS, choices=ROUTERS,
                        help="routers (and the pooled bound) to run at N replicas (default: all)")
    args = parser.parse_args()
    saved = _saved_runs(args.output / "results.json")
    programs = load_mix(parse_mix(args.workload), programs=args.programs, seed=args.seed)
    options = {"num_gpu_blocks": args.num_gpu_blocks} if args.num_gpu_blocks else {}

    def do(replicas: int, router: str, rate: float | None) -> dict[str, Any]:
        key = (replicas, router, rate)
        if key in saved:
            r = saved[key]
        else:
            t = time.perf_counter()
            r = row(replay_once(programs, replicas, router, rate, args.seed, options), replicas, router,
                    time.perf_counter() - t)
            saved[key] = r
            _save_runs(args.output / "results.json", list(saved.values()))
        print(json.dumps(r), flush=True)
        return r

    unloaded = do(1, "-", None)["mean_jct"]
    rate, c1, k1 = 2 / unloaded, 0.0, None
    for _ in range(MAX_SWEEP_STEPS):
        if do(1, "-", rate)["mean_jct"] > 2 * unloaded:
            k1 = rate
            break
        c1, rate = rate, rate * math.sqrt(2)
    if k1 is None:
        raise SystemExit(f"one engine never passed 2x unloaded JCT up to {rate:.4g} programs/s: the workload "
                         "is too small to load it (more --programs, or fewer --num-gpu-blocks)")
    n = args.replicas
    knee, check = n * k1, CAPACITY_SHARE * n * c1
    for r in (knee, check) if c1 else (knee,):
        for router in args.routers:
            do(n, router, r)
    report = {"workload": args.workload, "num_gpu_blocks": args.num_gpu_blocks, "num_programs": len(programs), "replicas": n, "seed": args.seed,
              "unloaded_mean_jct": unloaded, "capacity_1": c1, "knee_1": k1, "knee_n": knee, "capacity_check_rate": check,
              "runs": _in_order(saved.values())}
    write(report, args.output)


def _saved_runs(path: Path) -> dict[tuple[int, str, float | None], dict[str, Any]]:
    """Runs saved by an earlier piece of this benchmark, by (replicas, router, rate)."""
    if not path.exists():
        return {}
    return {(r["replicas"], r["router"], r["rate"]): r for r in json.loads(path.read_text())["runs"]}


def _in_order(runs: Any) -> list[dict[str, Any]]:
    """Runs of this and earlier pieces: one engine first, then by rate, then in `ROUTERS` order."""
    def key(r: dict[str, Any]) -> tuple[int, float, int]:
        return r["replicas"], -1.0 if r["rate"] is None else r["rate"], ROUTERS.index(r["router"]) if r["router"] in ROUTERS else -1

    return sorted(runs, key=key)


def _save_runs(path: Path, runs: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"runs": runs}, indent=1))


def write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1))
    md = markdown(report)
    (out / "results.md").write_text(md)
    plot(report, out / "jct_by_router.png")
    print(md)


def markdown(rep: dict[str, Any]) -> str:
    n, u = rep["replicas"], rep["unloaded_mean_jct"]
    multi = [r for r in rep["runs"] if r["replicas"] == n]
    lines = [f"{rep['workload']}, {rep['num_programs']} programs, agentrt policy on every engine, seed {rep['seed']}. "
             f"Unloaded mean JCT U = {u:.1f} s; one engine: capacity (mean JCT <= 2U) {rep['capacity_1']:.4g}/s, "
             f"knee {rep['knee_1']:.4g}/s.", "",
             "| replicas | router | rate (programs/s) | mean JCT (s) | p95 JCT (s) | mean queueing (s) | mean engine service (s) "
             "| prefix-hit rate | moves | re-prefilled tokens | preemptions |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rep["runs"]:
        rate = "unloaded" if r["rate"] is None else f"{r['rate']:.4g}"
        lines.append(f"| {r['replicas']} | {r['router']} | {rate} | {r['mean_jct']:.1f} | {r['p95_jct']:.1f} | "
                     f"{r['mean_queueing']:.1f} | {r['mean_service']:.1f} | {r['prefix_hit_rate']:.1%} | {r['moves']} | {r['reprefilled_tokens']:,} | {r['preemptions']} |")
    at_knee = {r["router"]: r for r in multi if r["rate"] == rep["knee_n"]}
    at_check = {r["router"]: r for r in multi if r["rate"] == rep["capacity_check_rate"] and r["rate"]}
    lines += ["", f"At the {n}-replica knee ({rep['knee_n']:.4g}/s): " + knee_ratios(at_knee),
              f"Capacity check at {rep['capacity_check_rate']:.4g}/s (= {n * CAPACITY_SHARE:.1f} x one engine's "
              f"capacity): mean JCT / 2U = " + ", ".join(f"{k} {v['mean_jct'] / (2 * u):.2f}" for k, v in at_check.items())
              + " (<= 1: that router's capacity is at least that multiple)."]
    return "\n".join(lines) + "\n"


def knee_ratios(at_knee: dict[str, dict[str, Any]]) -> str:
    """The targets' ratios at the knee, for the routers that ran there."""
    jct = {k: v["mean_jct"] for k, v in at_knee.items()}
    best = min((jct[k] for k in ("least-loaded", "autellix") if k in jct), default=math.nan)
    ours = ("agentrt", "clairvoyant", POOLED)
    parts = [f"{k} / round-robin mean JCT = {jct[k] / jct['round-robin']:.2f}x" for k in ours
             if k in jct and "round-robin" in jct]
    parts += [f"{k} / best of least-loaded and autellix = {jct[k] / best:.2f}x" for k in ours if k in jct]
    parts += [f"prefix-hit rate {k} {v['prefix_hit_rate']:.1%}" for k, v in at_knee.items()]
    return "; ".join(parts) + (" (bounds: clairvoyant, a router that knows each program's remaining work; "
                               "pooled, the replicas as one engine).")


def plot(rep: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = rep["replicas"]
    fig, (ax, hx) = plt.subplots(1, 2, figsize=(11, 5.2))
    one = [r for r in rep["runs"] if r["replicas"] == 1 and r["rate"] is not None]
    ax.plot([r["rate"] * n for r in one], [r["mean_jct"] for r in one], "k--o", label=f"1 engine (rate x {n})")
    bounds = {RouterName.CLAIRVOYANT.value: "bound: knows remaining work", POOLED: "bound: one engine, summed resources"}
    for router in ROUTERS:
        runs = sorted((r for r in rep["runs"] if r["replicas"] == n and r["router"] == router), key=lambda r: r["rate"])
        ax.plot([r["rate"] for r in runs], [r["mean_jct"] for r in runs], ":s" if router in bounds else "o-",
                label=f"{n} replicas, {router}" + (f" ({bounds[router]})" if router in bounds else ""))
    ax.axhline(2 * rep["unloaded_mean_jct"], color="grey", lw=0.8, label="2 x unloaded")
    ax.set_xlabel("arrival rate (programs/s)")
    ax.set_ylabel("mean JCT (s)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2)
    knee = [r for r in rep["runs"] if r["replicas"] == n and r["rate"] == rep["knee_n"]]
    hx.bar([r["router"] for r in knee], [r["prefix_hit_rate"] for r in knee])
    hx.tick_params(axis="x", labelrotation=30)
    hx.set_ylim(0.5, 1.0)
    hx.set_ylabel(f"prefix-hit rate at the {n}-replica knee")
    fig.suptitle(f"{rep['workload']}: {n} simulated H100 replicas behind each router")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
