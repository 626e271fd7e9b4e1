"""Replay a trace as HTTP clients against `agentrt serve --engine sim --time-scale K`.

One async client per program (Poisson arrivals at `--rate` programs per simulated second), each
sending its LLM calls as chat requests that carry the whole conversation so far (the previous
answer echoed back, then a user message of the recorded new tokens), generating the recorded
output length (`ignore_eos`), and sleeping each tool's recorded duration on the same scaled clock.
Each policy runs against its own server, with and without program headers (`X-Agentrt-Program`;
without, the server infers programs from the conversations). A program's last call carries
`X-Agentrt-Program-End`, so the server records its JCT on its clock (simulated seconds).

Prints, per policy and header mode: the programs the server found (and how many had exactly the
trace's calls), mean JCT, and the ratio agentrt/fcfs; then, with `--overhead`, the server's added
latency per call (client round trip minus the engine's time for the call) at 100 and 1,000
concurrent programs. Compare the JCT ratio with `agentrt bench TRACE --rates R --limit N`.

    python benchmarks/serve_http.py --limit 20 --rate 0.5 --time-scale 20
    python benchmarks/serve_http.py --overhead 100,1000          # at --time-scale 1
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx

from agentrt.replay.trace import LLMStep, TraceProgram, load_trace
from agentrt.replay.workload import poisson_arrivals
from agentrt.serve.server import GEN0_THRESHOLD

MODEL = "sim"


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_server(policy: str, time_scale: float, extra: list[str], profile: Path | None = None) -> Server:
    """`agentrt serve` on a free port; with `profile`, under cProfile (the server's thread only:
    the engine's thread is not profiled), written there when the server stops."""
    prefix = ["-m", "cProfile", "-o", str(profile)] if profile else []
    cmd = [sys.executable, *prefix, "-m", "agentrt", "serve", "--port", "0", "--policy", policy, "--time-scale",
           str(time_scale), "--served-model-name", MODEL, "--max-in-flight", "100000", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "listening on" in line:
            return Server(proc, line.split("listening on ")[1].strip())
    raise RuntimeError("agentrt serve did not start")


def start_stand_in(app: str) -> Server:
    """A stand-in server of serve_floor_apps.py (`bare` or `validated`) on a free port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent), f"serve_floor_apps:{app}",
           "--port", str(port), "--log-level", "warning", "--loop", "uvloop", "--http", "httptools"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return Server(proc, f"http://127.0.0.1:{port}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"the stand-in server {app} did not start")


def _text(num_tokens: int, key: str) -> str:
    """Text the simulator tokenizes to about `num_tokens` tokens (4 characters each), unique per key."""
    body = (key + " ") * (num_tokens * 4 // (len(key) + 1) + 1)
    return body[: max(1, num_tokens * 4 - 10)]


async def post(session: aiohttp.ClientSession, url: str, body: dict[str, Any],
               headers: dict[str, str] | None = None) -> tuple[float, dict[str, str], dict[str, Any]]:
    """POST a chat request: (round trip in wall s, response headers, JSON body). Raises on non-200."""
    start = time.perf_counter()
    async with session.post(f"{url}/v1/chat/completions", json=body, headers=headers) as response:
        response.raise_for_status()
        out = await response.json()
        return time.perf_counter() - start, {k.lower(): v for k, v in response.headers.items()}, out


def new_session() -> aiohttp.ClientSession:
    """One client session for all programs, unbounded connections. aiohttp, not httpx: with 50
    concurrent programs httpx's client added a p50 of ~150 ms and a p99 of ~2 s of its own on this
    machine (aiohttp: 16 / 45 ms, same server, one run each)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None))


async def run_program(client: aiohttp.ClientSession, url: str, trace: TraceProgram, delay: float, scale: float,
                      headers: bool, latencies: list[float]) -> None:
    await asyncio.sleep(delay)
    messages: list[dict[str, Any]] = []
    llm_steps = [i for i, s in enumerate(trace.steps) if isinstance(s, LLMStep)]
    gap = 0.0
    context = 0
    for i, step in enumerate(trace.steps):
        if not isinstance(step, LLMStep):
            gap += step.duration_s or 0.0
            continue
        if gap:
            await asyncio.sleep(gap / scale)
            gap = 0.0
        new = step.input_tokens - context if messages and step.input_tokens >= context else step.input_tokens
        if not messages or step.input_tokens < context:
            messages = []
        messages.append({"role": "user", "content": _text(max(1, new), f"{trace.program_id}/{i}")})
        head = {"X-Agentrt-Program": trace.program_id} if headers else {}
        if i == llm_steps[-1]:
            head["X-Agentrt-Program-End"] = "1"
        body = {"model": MODEL, "messages": messages, "max_tokens": max(1, step.output_tokens), "ignore_eos": True}
        took, response_headers, answer = await post(client, url, body, head)
        latencies.append(took - float(response_headers["x-agentrt-engine-time"]) / scale)
        messages.append(answer["choices"][0]["message"])
        context = step.input_tokens + step.output_tokens


async def replay(url: str, programs: list[TraceProgram], arrivals: list[float], scale: float,
                 headers: bool) -> list[float]:
    latencies: list[float] = []
    async with new_session() as client:
        await asyncio.gather(*(run_program(client, url, p, a / scale, scale, headers, latencies)
                               for p, a in zip(programs, arrivals)))
    return latencies


def served_programs(url: str) -> list[dict[str, Any]]:
    return list(httpx.get(f"{url}/v1/programs", params={"state": "ended"}).json()["data"])


def run_replay(args: argparse.Namespace) -> dict[str, Any]:
    programs = load_trace(args.trace, limit=args.limit)
    arrivals = poisson_arrivals(len(programs), args.rate, args.seed)
    calls = sorted(len(p.llm_steps) for p in programs)
    out: dict[str, Any] = {"trace": str(args.trace), "num_programs": len(programs), "rate": args.rate,
                           "time_scale": args.time_scale, "runs": {}}
    for headers in (mode == "headers" for mode in args.modes.split(",")):
        for policy in args.policies.split(","):
            server = start_server(policy, args.time_scale, ["--idle-timeout", str(args.idle_timeout)])
            try:
                wall = time.perf_counter()
                overheads = asyncio.run(replay(server.url, programs, arrivals, args.time_scale, headers))
                wall = time.perf_counter() - wall
                seen = served_programs(server.url)
            finally:
                server.stop()
            jcts = [p["jct"] for p in seen]
            run = {"policy": policy, "headers": headers, "programs_in_trace": len(programs),
                   "programs_found": len(seen), "calls_in_trace": sum(calls),
                   "calls_found": sum(p["num_calls"] for p in seen),
                   "programs_with_trace_calls": sorted(p["num_calls"] for p in seen) == calls,
                   "mean_jct": statistics.fmean(jcts), "wall_s": wall,
                   "overhead": _percentiles(overheads),
                   # each wall second of HTTP overhead is time_scale simulated seconds of a program's JCT
                   "overhead_sim_s_per_program": sum(overheads) * args.time_scale / len(programs)}
            out["runs"][f"{policy}/{'headers' if headers else 'inferred'}"] = run
            print(json.dumps(run), flush=True)
    for mode in ("headers", "inferred"):
        a, f = out["runs"].get(f"agentrt/{mode}"), out["runs"].get(f"fcfs/{mode}")
        if a and f:
            out[f"jct_ratio_{mode}"] = a["mean_jct"] / f["mean_jct"]
            print(f"{mode}: mean JCT agentrt/fcfs = {out[f'jct_ratio_{mode}']:.3f}", flush=True)
    if args.in_process:
        out["in_process"] = in_process_bench(args)
    return out


def in_process_bench(args: argparse.Namespace) -> dict[str, Any]:
    """`agentrt bench` (virtual time) on the same programs, rate, seed and policies: mean JCT per
    policy and the agentrt/fcfs ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "agentrt", "bench", str(args.trace), "--limit", str(args.limit),
                        "--rates", str(args.rate), "--seed", str(args.seed), "--policies", args.policies,
                        "--no-bisect", "--output", tmp], check=True, stdout=subprocess.DEVNULL)
        runs = json.loads((Path(tmp) / "results.json").read_text())["runs"]
    out: dict[str, Any] = {r["policy"]: r["summary"]["mean_jct"] for r in runs}
    if "agentrt" in out and "fcfs" in out:
        out["jct_ratio"] = out["agentrt"] / out["fcfs"]
    print(f"in process: {json.dumps(out)}", flush=True)
    return out


@dataclass
class CallTimes:
    """One call's wall seconds: the client's round trip, the server's own time for it (app entry to
    response headers, `X-Agentrt-Server-Time`) and the engine's (receipt to finish,
    `X-Agentrt-Engine-Time` / time scale)."""

    round_trip: float
    server: float
    engine: float


async def overhead_clients(url: str, num_programs: int, num_calls: int, scale: float,
                           gap: float = 0.0) -> list[CallTimes]:
    """Each program sends `num_calls` chat calls in a row, sleeping an exponential tool gap of mean
    `gap` wall seconds between them (0: none, every program always has a call in flight). With
    gaps, each program first sleeps one gap too, as if in a tool call when the run starts (the
    stationary state): starting every program within the first second sent 1,000 calls in that
    second, a burst twice the machine's throughput, whose queue was the p99 (and, on a loaded
    machine, the p50) of the 1,000-program run."""
    times: list[CallTimes] = []
    rng = random.Random(0)
    starts = [rng.expovariate(1 / gap) if gap > 0 else rng.random() for _ in range(num_programs)]
    gaps = [[rng.expovariate(1 / gap) if gap > 0 else 0.0 for _ in range(num_calls)] for _ in range(num_programs)]

    async def program(i: int, client: aiohttp.ClientSession) -> None:
        await asyncio.sleep(starts[i])
        messages: list[dict[str, Any]] = [{"role": "user", "content": f"program {i}: " + "x" * 400}]
        for k in range(num_calls):
            if k:
                await asyncio.sleep(gaps[i][k])
            took, headers, answer = await post(client, url, {
                "model": MODEL, "messages": messages, "max_tokens": 8, "ignore_eos": True})
            times.append(CallTimes(took, float(headers["x-agentrt-server-time"]),
                                   float(headers["x-agentrt-engine-time"]) / scale))
            messages += [answer["choices"][0]["message"], {"role": "user", "content": "next " * 20}]

    async with new_session() as client:
        await asyncio.gather(*(program(i, client) for i in range(num_programs)))
    return times


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of a process, from /proc (Linux; {} elsewhere).
    The main thread's id is the process id."""
    out: dict[int, float] = {}
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        fields = stat.read_text().rsplit(")", 1)[1].split()
        out[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": 1e3 * ordered[len(ordered) // 2],
            "p99_ms": 1e3 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]}


def measure(server: Server, num_programs: int, num_calls: int, scale: float, gap: float = 0.0) -> dict[str, Any]:
    """Run the overhead clients against a started server (stopped after): latencies and CPU per call."""
    try:
        cpu_before = thread_cpu_seconds(server.proc.pid)
        wall = time.perf_counter()
        times = asyncio.run(overhead_clients(server.url, num_programs, num_calls, scale, gap))
        wall = time.perf_counter() - wall
        cpu = {tid: t - cpu_before.get(tid, 0.0) for tid, t in thread_cpu_seconds(server.proc.pid).items()}
    finally:
        server.stop()
    server_cpu = cpu.pop(server.proc.pid, 0.0)
    # calls_per_s is over the whole run: with gaps, its wall time is mostly the slowest program's
    # sum of gaps (the longest of 1,000 draws), so it is not the server's throughput
    return {"concurrent_programs": num_programs, "mean_gap_s": gap, "calls": len(times), "wall_s": round(wall, 2),
            "calls_per_s": round(len(times) / wall, 1),
            "server_thread_cpu_ms_per_call": round(1e3 * server_cpu / len(times), 3),
            "other_threads_cpu_ms_per_call": round(1e3 * sum(cpu.values()) / len(times), 3),
            "client_observed": _percentiles([t.round_trip - t.engine for t in times]),
            "server_side": _percentiles([t.server - t.engine for t in times]),
            "engine": _percentiles([t.engine for t in times])}


def run_floor(args: argparse.Namespace) -> dict[str, Any]:
    """The same clients against the two stand-ins of serve_floor_apps.py and `agentrt serve`, one
    after the other: what HTTP + uvicorn cost, what FastAPI + validation add, what agentrt adds."""
    out: dict[str, Any] = {}
    for name in ("bare", "validated", "agentrt"):
        server = start_server("agentrt", args.time_scale, []) if name == "agentrt" else start_stand_in(name)
        out[name] = {"server": name, **measure(server, args.floor, args.calls, args.time_scale)}
        print(json.dumps(out[name]), flush=True)
    return out


def run_overhead(args: argparse.Namespace) -> dict[str, Any]:
    """Per call: client-observed overhead = round trip - engine time, server-side overhead =
    server time - engine time, all wall seconds on this machine's monotonic clock (the engine's
    clock is the wall clock times the time scale, read by the same process as the server's)."""
    out: dict[str, Any] = {}
    for n in (int(x) for x in args.overhead.split(",")):
        profile = args.profile_server.with_suffix(f".{n}.prof") if args.profile_server else None
        row = measure(start_server("agentrt", args.time_scale, [], profile), n, args.calls, args.time_scale, args.gap)
        out[str(n)] = row
        print(json.dumps(row), flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trace", default="swebench-lite-deepseek-v3")
    p.add_argument("--limit", type=int, default=20, help="programs of the trace to replay")
    p.add_argument("--rate", type=float, default=0.5, help="programs per simulated second")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-scale", type=float, default=None, help="default 20 (replay), 1 (--overhead)")
    p.add_argument("--policies", default="agentrt,fcfs")
    p.add_argument("--modes", default="headers,inferred",
                   help="headers: send X-Agentrt-Program; inferred: send none (comma-separated)")
    p.add_argument("--idle-timeout", type=float, default=60.0,
                   help="the server's --idle-timeout (simulated s): a program idle longer may be ended, and "
                        "its next call starts a new one")
    p.add_argument("--in-process", action="store_true",
                   help="also run `agentrt bench` on the same programs, rate and seed, for the JCT ratio")
    p.add_argument("--overhead", default=None, help="comma-separated concurrent program counts, e.g. 100,1000")
    p.add_argument("--calls", type=int, default=5, help="--overhead, --floor: calls per program")
    p.add_argument("--gap", type=float, default=0.0,
                   help="--overhead: mean tool gap between a program's calls (wall s, exponential; default 0)")
    p.add_argument("--floor", type=int, default=None, metavar="N",
                   help="N concurrent programs against two stand-in servers (serve_floor_apps.py) and agentrt serve")
    p.add_argument("--profile-server", type=Path, default=None, metavar="PATH",
                   help="--overhead: run each server under cProfile, writing PATH.<programs>.prof")
    p.add_argument("--output", type=Path, default=None, help="write the results as JSON here")
    args = p.parse_args()
    if args.time_scale is None:
        args.time_scale = 1.0 if args.overhead or args.floor else 20.0
    if args.overhead or args.floor:  # the clients' own collector pauses are not the server's overhead
        gc.set_threshold(GEN0_THRESHOLD, *gc.get_threshold()[1:])
    result = run_floor(args) if args.floor else run_overhead(args) if args.overhead else run_replay(args)
    if args.output:
        args.output.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
