"""Runtime overhead per call: 1,000 programs x 100 LLM calls through the runtime with the
zero-latency recording engine, against the same engine awaits in bare anyio, in one run.

    .venv/bin/python benchmarks/runtime_overhead.py [--programs 1000] [--calls 100] [--backend asyncio]

Target (issue 2): at most 50 us of runtime overhead per call.
"""

from __future__ import annotations

import argparse
import time

import anyio
from rich.console import Console
from rich.table import Table

import agentrt
from agentrt.engine_adapters.base import GenerationRequest
from agentrt.engine_adapters.testing import RecordingEngine


@agentrt.program
async def chain(num_calls: int) -> None:
    for _ in range(num_calls):
        await agentrt.llm("x", max_tokens=1)


async def through_runtime(num_programs: int, num_calls: int) -> float:
    engine = RecordingEngine(record=False)
    start = time.perf_counter()
    async with agentrt.Runtime(engine=engine, policy="fcfs") as rt:
        for _ in range(num_programs):
            rt.submit(chain, num_calls)
    return time.perf_counter() - start


async def bare_anyio(num_programs: int, num_calls: int) -> float:
    engine = RecordingEngine(record=False)

    async def program(i: int) -> None:
        for j in range(num_calls):
            await engine.generate(GenerationRequest(call_id=f"{i}.{j}", program_id=str(i), prompt="x",
                                                    max_tokens=1, arrival=0.0))

    start = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for i in range(num_programs):
            tg.start_soon(program, i)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programs", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--backend", choices=["asyncio", "trio"], default="asyncio")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.programs * args.calls
    rows = []
    for _ in range(args.repeat):  # interleaved, best of N for each
        bare = anyio.run(bare_anyio, args.programs, args.calls, backend=args.backend)
        rt = anyio.run(through_runtime, args.programs, args.calls, backend=args.backend)
        rows.append((bare, rt))
    bare, rt = min(r[0] for r in rows), min(r[1] for r in rows)
    table = Table(title=f"{args.programs} programs x {args.calls} LLM calls, zero-latency engine, {args.backend}")
    for col in ("", "wall s", "us per call"):
        table.add_column(col, justify="right")
    table.add_row("bare anyio awaits", f"{bare:.3f}", f"{bare / n * 1e6:.1f}")
    table.add_row("agentrt runtime", f"{rt:.3f}", f"{rt / n * 1e6:.1f}")
    table.add_row("runtime overhead", f"{rt - bare:.3f}", f"{(rt - bare) / n * 1e6:.1f}")
    table.add_row("ratio runtime / bare", f"{rt / bare:.1f}x", "")
    Console().print(table)


if __name__ == "__main__":
    main()
