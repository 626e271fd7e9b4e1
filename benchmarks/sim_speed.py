"""How fast the simulator runs: the 66 SWE-bench programs arriving together (offline mode).

    .venv/bin/python benchmarks/sim_speed.py [--trace PATH] [--policy fcfs] [--profile NAME]
        [--system-prompt-tokens N] [--limit N] [--step-by-step] [--cprofile]

Each program replays its recorded steps without the runtime: an LLM step's prompt is the previous
prompt + the previous output + its new tokens (the first: all its input tokens, after an optional
system prompt shared by every program), generating exactly its output tokens; a tool step sleeps
for its recorded duration. Time is virtual (trio MockClock). Policy: any name `make_policy`
knows (default fcfs, stock vLLM). Prints wall seconds, simulated seconds
and engine iterations per wall second. `--step-by-step` turns decode spans off
(`SimConfig.fast_forward`), for comparison: the results are the same.

All programs at once on the default H100 cache thrash it: ~6.8 million blocks are evicted and
~108 million prompt tokens prefilled again, so most of the time goes to per-block work in the KV
cache (three or four dict and list operations per block, bound by memory latency in CPython), not
to the engine loop. Target: under 15 s of wall time (2 shared vCPUs: 20-26 s, from 35 s before
decode spans and the KV cache rework).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import anyio
import trio
from trio.testing import MockClock

from agentrt.engine_adapters.base import GenerationRequest, SchedHints
from agentrt.engine_adapters.sim import SimEngine, SimStats
from agentrt.programs.tokens import Tokens
from agentrt.replay.trace import BUNDLED

TRACE = BUNDLED / "swebench-lite-deepseek-v3.jsonl"


def load_programs(path: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The trace's programs (minimal parsing; the real loader lives in agentrt.replay)."""
    with path.open() as f:
        programs = [json.loads(line) for line in f if line.strip()]
    return programs[:limit] if limit else programs


async def replay(engine: SimEngine, program: dict[str, Any], system: Tokens) -> None:
    """One program's steps. Its recent tool durations are the gap samples a runtime would pass,
    so that pinning policies can pin."""
    pid = program["program_id"]
    prompt: Tokens | None = None
    output = Tokens.empty()
    gaps: list[float] = []
    for i, step in enumerate(program["steps"]):
        if step["kind"] == "tool":
            await engine.hint_tool(pid, step.get("name", "tool"), tuple(gaps[-16:]))
            duration = step.get("duration_s") or 0.0
            await anyio.sleep(duration)
            gaps.append(duration)
            continue
        if prompt is None:
            prompt = system + Tokens.synthetic(max(step["input_tokens"] - len(system), 1), key=f"{pid}/{i}/in")
        else:
            prompt = prompt + output + Tokens.synthetic(step.get("new_input_tokens", 0), key=f"{pid}/{i}/in")
        hints = SchedHints(program_arrival=0.0, gap_samples=tuple(gaps[-16:]))
        request = GenerationRequest(call_id=f"{pid}/{i}", program_id=pid, prompt=prompt,
                                    max_tokens=max(step["output_tokens"], 1), arrival=anyio.current_time(),
                                    ignore_eos=True, hints=hints)
        output = (await engine.generate(request)).output
    await engine.release_program(pid)


async def simulate(programs: list[dict[str, Any]], *, policy: str, profile: str, system_tokens: int,
                   fast_forward: bool = True) -> SimStats:
    engine = SimEngine(profile, record_iterations=0, fast_forward=fast_forward)
    system = Tokens.synthetic(system_tokens, key="system") if system_tokens else Tokens.empty()
    async with anyio.create_task_group() as engine_group:
        await engine.start(policy, engine_group)
        async with anyio.create_task_group() as tg:
            for program in programs:
                tg.start_soon(replay, engine, program, system)
        await engine.stop()
    return engine.statistics()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trace", type=Path, default=TRACE)
    parser.add_argument("--policy", default="fcfs")
    parser.add_argument("--profile", default="llama-3.1-8b-h100")
    parser.add_argument("--system-prompt-tokens", type=int, default=0)
    parser.add_argument("--limit", type=int, default=None, help="replay only the first N programs")
    parser.add_argument("--step-by-step", action="store_true", help="one loop step per iteration (no decode spans)")
    parser.add_argument("--cprofile", action="store_true", help="print the top functions by time")
    args = parser.parse_args()
    programs = load_programs(args.trace, args.limit)

    async def run() -> tuple[SimStats, float]:
        stats = await simulate(programs, policy=args.policy, profile=args.profile,
                               system_tokens=args.system_prompt_tokens, fast_forward=not args.step_by_step)
        return stats, trio.current_time()

    wall, cpu = time.perf_counter(), time.process_time()
    if args.cprofile:
        import cProfile
        import pstats
        with cProfile.Profile() as prof:
            stats, simulated = trio.run(run, clock=MockClock(autojump_threshold=0))
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    else:
        stats, simulated = trio.run(run, clock=MockClock(autojump_threshold=0))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"programs: {len(programs)}  calls: {stats.num_finished}  policy: {args.policy}  profile: {args.profile} "
          f"({stats.num_blocks} blocks of {stats.block_size})")
    print(f"wall: {wall:.2f} s (cpu {cpu:.2f} s)  simulated: {simulated:.1f} s  iterations: {stats.num_iterations} "
          f"({stats.num_iterations / wall:,.0f}/wall s)")
    print(f"prefix hits: {stats.prefix_hit_rate:.1%} of {stats.num_prompt_tokens:,} prompt tokens  "
          f"prefill: {stats.num_prefill_tokens:,}  decode: {stats.num_decode_tokens:,}  "
          f"re-prefilled: {stats.num_reprefilled_tokens:,}  recomputed: {stats.num_recomputed_tokens:,}")
    print(f"preemptions: {stats.num_preemptions}  evicted blocks: {stats.num_evicted_blocks:,}  "
          f"pins: {stats.num_pins} (hits {stats.num_pin_hits}, expired {stats.num_pin_expiries}, "
          f"released {stats.num_pin_releases})  max batch: {stats.max_batch_size}")


if __name__ == "__main__":
    main()
