"""Where agentrt's gap to the clairvoyant oracle comes from, on one simulated cell (issue 15).

    .venv/bin/python benchmarks/oracle_gap.py [--workload mixed] [--programs 40] [--num-gpu-blocks 16000]
        [--rate 0.2] [--seed 0 | --seeds 0,1,2,3]

Runs fcfs, agentrt and the oracle on the same seeded arrivals, plus a size-blind bound: `gittins`
given the exact distribution of the replayed programs' service from the start (taken from the
oracle's run: it knows the distribution of sizes, never which program has which). The Gittins index
over the true distribution is the mean-response-time-optimal order when sizes are unknown, so where
that bound stays above 1.1x the oracle, no order learned from attained service can reach it.
Prints mean JCT, p99, x oracle, and per class (programs under / over 4,000 generated tokens: the
short BFCL programs and the long SWE-bench ones) the mean JCT, queueing and preemptions.
No flags cover the full traces: give `--programs 0` for every program of the workload once.

`--seeds 0,1,2,3` runs agentrt, the oracle and the bound on each seed (another draw of programs and
arrivals) and prints agentrt x oracle and bound x oracle per seed, their geometric means and the
worst. Judge a scheduling change by that, not by one seed: agentrt x oracle on one cell ranged
1.00-1.46 over seeds 0-3, and gate changes moved single runs by up to 24% either way while none
improved the geometric mean over 14 runs by more than 1.7% (docs/scheduling.md, "Where the rest of the gap
is", fifth pass).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator
from contextlib import contextmanager

from agentrt.replay.bench import BenchSpec, replay_once
from agentrt.replay.driver import ReplayResult
from agentrt.replay.mix import load_mix, parse_mix
from agentrt.replay.workload import make_scaling
from agentrt.runtime.scheduling.pinning import SortKey
from agentrt.runtime.scheduling.policies import POLICY_CLASSES, GittinsPolicy, PolicyConfig, PolicyName
from agentrt.runtime.scheduling.policies.base import CallState, ProgramState
from agentrt.runtime.scheduling.policies.gittins import ServiceDistribution

SHORT_TOKENS = 4000  # bundled traces: BFCL programs generate 256-3,009 tokens, SWE-bench ones 7,074-57,989


@contextmanager
def gittins_knowing(services: list[float]) -> Iterator[None]:
    """`gittins` starts with `services` as its finished programs and learns nothing more."""

    class KnownDistribution(GittinsPolicy):
        def __init__(self, config: PolicyConfig) -> None:
            super().__init__(config)
            for service in services:
                self.finished.add(service)

        def on_program_end(self, program: object) -> None:
            pass

    with gittins_as(KnownDistribution):
        yield


@contextmanager
def gittins_knowing_kinds(services: dict[str, list[float]]) -> Iterator[None]:
    """`gittins` starts with each kind's services (`services`: kind -> its programs' service) and
    ranks a program by the Gittins index of its attained service over its own kind's distribution
    (a kind not given: the union of all); it learns nothing more. The size-blind bound for a
    scheduler that knows which agent each program is (twelfth pass), not which program is short."""

    def distribution(values: list[float]) -> ServiceDistribution:
        d = ServiceDistribution(window=max(len(values), 1))
        for value in values:
            d.add(value)
        return d

    class KnownKindDistributions(GittinsPolicy):
        def __init__(self, config: PolicyConfig) -> None:
            super().__init__(config)
            self.by_kind = {kind: distribution(values) for kind, values in services.items()}
            self.finished = distribution([v for values in services.values() for v in values])

        def on_program_end(self, program: object) -> None:
            pass

        def sort_key(self, call: CallState, program: ProgramState, pinned: bool) -> SortKey:
            index = self.by_kind.get(program.kind or "", self.finished).gittins_index(program.service)
            promoted = call.level == 0 and call.num_promotions > 0
            pinned_first = self.config.pinned_first and call.memory_short and not pinned
            return (not promoted, pinned_first, -index, call.arrival)

    with gittins_as(KnownKindDistributions):
        yield


@contextmanager
def gittins_as(policy_class: type[GittinsPolicy]) -> Iterator[None]:
    """`make_policy("gittins")` builds `policy_class` inside the block; the class is restored after."""
    saved = POLICY_CLASSES[PolicyName.GITTINS]
    POLICY_CLASSES[PolicyName.GITTINS] = policy_class
    try:
        yield
    finally:
        POLICY_CLASSES[PolicyName.GITTINS] = saved


def kind_services(result: ReplayResult) -> dict[str, list[float]]:
    """Kind -> the service of each of its programs in `result` (the oracle's run)."""
    out: dict[str, list[float]] = {}
    for m in result.metrics:
        out.setdefault(m.kind or "", []).append(m.service)
    return out


def describe(label: str, result: ReplayResult, oracle_mean: float) -> None:
    s = result.summary
    print(f"{label:28s} mean {s.mean_jct:7.1f} s  p99 {s.p99_jct:7.1f} s  x oracle {s.mean_jct / oracle_mean:.3f}")
    for name, short in (("short", True), ("long", False)):
        group = [m for m in result.metrics if (m.generated_tokens < SHORT_TOKENS) == short]
        if group:
            n = len(group)
            print(f"    {name:5s} n {n:3d}  mean JCT {sum(m.jct for m in group) / n:7.1f}  "
                  f"mean queueing {sum(m.queueing_delay for m in group) / n:6.1f}  "
                  f"preemptions {sum(m.preemptions for m in group)}")


def seed_spread(x_oracle: dict[int, float]) -> tuple[float, float, int]:
    """Over seeds (seed -> agentrt x oracle): the geometric mean, the worst ratio and its seed."""
    worst = max(x_oracle, key=lambda seed: x_oracle[seed])
    geo = math.exp(sum(math.log(x) for x in x_oracle.values()) / len(x_oracle))
    return geo, x_oracle[worst], worst


def make_spec(args: argparse.Namespace, seed: int) -> BenchSpec:
    programs = load_mix(parse_mix(args.workload), programs=args.programs or None, seed=seed)
    options: dict[str, object] = {"profile": "llama-3.1-8b-h100"}
    if args.num_gpu_blocks:
        options["num_gpu_blocks"] = args.num_gpu_blocks
    return BenchSpec(programs=programs, scaling=make_scaling(programs), policies=("fcfs",), rates=(args.rate,),
                     seed=seed, engine_options=options)


def over_seeds(args: argparse.Namespace, seeds: list[int]) -> None:
    """agentrt and the size-blind bound against the oracle, one line per seed, then over the seeds."""
    x_oracle: dict[int, float] = {}
    bound_x_oracle: dict[int, float] = {}
    kind_x_oracle: dict[int, float] = {}
    for seed in seeds:
        spec = make_spec(args, seed)
        oracle = replay_once(spec, "oracle", args.rate)
        agentrt = replay_once(spec, "agentrt", args.rate).summary
        with gittins_knowing([m.service for m in oracle.metrics]):
            bound = replay_once(spec, "gittins", args.rate).summary
        x_oracle[seed] = agentrt.mean_jct / oracle.summary.mean_jct
        bound_x_oracle[seed] = bound.mean_jct / oracle.summary.mean_jct
        line = (f"seed {seed:3d}: agentrt {agentrt.mean_jct:7.1f} s (p99 {agentrt.p99_jct:7.1f})  oracle "
                f"{oracle.summary.mean_jct:7.1f} s  x oracle {x_oracle[seed]:.3f}  bound x oracle "
                f"{bound_x_oracle[seed]:.3f}")
        if args.kind_bound:
            with gittins_knowing_kinds(kind_services(oracle)):
                kind_bound = replay_once(spec, "gittins", args.rate).summary
            kind_x_oracle[seed] = kind_bound.mean_jct / oracle.summary.mean_jct
            line += f"  kind bound x oracle {kind_x_oracle[seed]:.3f}"
        print(line, flush=True)
    for label, ratios in (("agentrt", x_oracle), ("bound", bound_x_oracle), ("kind bound", kind_x_oracle)):
        if not ratios:
            continue
        geo, worst, worst_seed = seed_spread(ratios)
        print(f"{label} x oracle over {len(seeds)} seeds: geometric mean {geo:.3f}, "
              f"worst {worst:.3f} (seed {worst_seed})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="mixed")
    parser.add_argument("--programs", type=int, default=40, help="0: every program of the workload once")
    parser.add_argument("--num-gpu-blocks", type=int, default=16000, help="0: the profile's full cache")
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seeds", type=lambda text: [int(x) for x in text.split(",")], default=None,
                        help="comma-separated seeds: agentrt x oracle per seed and over them (e.g. 0,1,2,3)")
    parser.add_argument("--kind-bound", action="store_true",
                        help="with --seeds: also the kind-aware size-blind bound (gittins handed each program "
                             "kind's true distribution of sizes)")
    args = parser.parse_args()
    if args.seeds:
        print(f"{args.workload}, {args.programs or 'all'} programs, seeds {args.seeds}, {args.rate}/s, "
              f"{args.num_gpu_blocks or 'full'} KV blocks")
        over_seeds(args, args.seeds)
        return
    spec = make_spec(args, args.seed)
    programs = spec.programs
    print(f"{args.workload}, {len(programs)} programs, seed {args.seed}, {args.rate}/s, "
          f"{args.num_gpu_blocks or 'full'} KV blocks")
    oracle = replay_once(spec, "oracle", args.rate)
    for policy in ("fcfs", "agentrt"):
        describe(policy, replay_once(spec, policy, args.rate), oracle.summary.mean_jct)
    describe("oracle", oracle, oracle.summary.mean_jct)
    with gittins_knowing([m.service for m in oracle.metrics]):
        describe("gittins, true distribution", replay_once(spec, "gittins", args.rate), oracle.summary.mean_jct)


if __name__ == "__main__":
    main()
