"""Scale of the runtime on the simulator: N programs x C LLM calls, wall time and peak memory.

    python benchmarks/scale.py --programs 1000 10000 --calls 10

Each program makes C LLM calls (a 200-token prompt growing by 50 tokens a turn, 20 output
tokens) with a 1 s tool call between turns; programs arrive as a Poisson stream at --rate per
second (default 20: about 300 programs in flight). Finished programs' records are counted by an
observer and not kept (`Runtime(keep_records=False)`), unless --keep-records.
Each size runs in a fresh process, so its peak RSS (ru_maxrss) is its own. Prints one line per
size and the time ratio of the largest to the smallest; `--json` writes them.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def one(num_programs: int, num_calls: int, rate: float, keep_records: bool) -> dict[str, float]:
    import anyio

    import agentrt
    from agentrt.engine_adapters.sim import SimEngine
    from agentrt.programs.tokens import Tokens
    from agentrt.replay.workload import poisson_arrivals
    from agentrt.runtime.runner import run

    @agentrt.tool
    async def work(seconds: float) -> None:
        await anyio.sleep(seconds)

    @agentrt.program
    async def agent(i: int) -> int:
        context = Tokens.synthetic(200, key=f"a{i}")
        for turn in range(num_calls):
            reply = await agentrt.llm(context, max_tokens=20, ignore_eos=True)
            context = reply.context + Tokens.synthetic(50, key=f"a{i}.{turn}")
            if turn + 1 < num_calls:
                await work(1.0)
        return num_calls

    arrivals = poisson_arrivals(num_programs, rate, 0)
    stats: dict[str, float] = {}

    class Count(agentrt.Observer):
        num_ok = 0

        def program_finished(self, program: agentrt.ProgramRecord) -> None:
            Count.num_ok += program.status is agentrt.ProgramStatus.OK

    async def main() -> None:
        engine = SimEngine(record_iterations=0)
        async with agentrt.Runtime(engine=engine, observers=[Count()], keep_records=keep_records) as rt:
            start = rt.now()
            for at, i in zip(arrivals, range(num_programs)):
                await anyio.sleep_until(start + at)
                rt.submit(agent, i)
        stats.update(num_ok=Count.num_ok, virtual_s=rt.now() - start, num_llm_calls=engine.statistics().num_finished)

    t0, c0 = time.perf_counter(), time.process_time()
    run(main)
    stats["wall_s"] = time.perf_counter() - t0
    stats["cpu_s"] = time.process_time() - c0  # less sensitive than wall time to co-tenants
    stats["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--programs", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--rate", type=float, default=20.0, help="arrivals per second (default 20)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--keep-records", action="store_true",
                        help="keep every finished program's record in Runtime.records (default: stream them out)")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(args.one, args.calls, args.rate, args.keep_records)))
        return
    rows = []
    for n in args.programs:
        out = subprocess.run([sys.executable, __file__, "--one", str(n), "--calls", str(args.calls),
                              "--rate", str(args.rate)] + ["--keep-records"] * args.keep_records,
                             capture_output=True, text=True, check=True)
        row = {"num_programs": n, "num_calls": args.calls, **json.loads(out.stdout.strip().splitlines()[-1])}
        rows.append(row)
        print(f"{n:>6} programs x {args.calls} calls: {row['wall_s']:.1f} s wall, {row['cpu_s']:.1f} s CPU, "
              f"{row['peak_rss_mb']:.0f} MB peak RSS, "
              f"{row['num_ok']:.0f} ok, {row['num_llm_calls']:.0f} LLM calls, {row['virtual_s']:.0f} s simulated",
              flush=True)
    if len(rows) > 1:
        print(f"ratio {rows[-1]['num_programs']}/{rows[0]['num_programs']}: wall {rows[-1]['wall_s'] / rows[0]['wall_s']:.1f}, "
              f"CPU {rows[-1]['cpu_s'] / rows[0]['cpu_s']:.1f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
