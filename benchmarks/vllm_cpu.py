"""Real vLLM on the CPU: vLLM's own scheduler against agentrt's plugin under three policies, as
interleaved rounds appended to one results file, then a summary of every round so far and the
simulator, calibrated on the same runs' steps, replaying the same work.

    .venv/bin/python benchmarks/vllm_cpu.py run [--model DIR] [--rounds 1] [--results FILE] [workload options]
    .venv/bin/python benchmarks/vllm_cpu.py summary [--results FILE] [--output FILE.json]

`run` appends one JSON line per engine run to `--results` (default results/vllm_cpu.jsonl), so
rounds can come from separate invocations (each holds a shared machine for minutes, not an hour);
its rounds are numbered after those already in the file for the same workload. `summary` reads
the file (the runs of its last line's workload and settings; others are counted and left out).

Workload (memory-bound on purpose): the first `--programs` programs of swebench-lite-deepseek-v3,
each cut to its first `--steps` LLM calls and the tool calls between them at their recorded
durations, token counts scaled so the longest context fits `--max-model-len`, Poisson arrivals.
Each turn's prompt is the previous context plus the recorded new tokens, so contexts grow; the KV
cache (`--num-gpu-blocks` x 32 tokens) holds a few contexts, so more programs are live than fit.
`--tool-scale` multiplies the recorded tool durations (default 1, as recorded; a result with
another scale must say so): on a fast engine a kept context pays only where re-prefilling it costs
about a tool gap (benchmarks/vllm_cpu_anatomy.py; docs/vllm.md, "Session 5, second pass").
`--bfcl N` (default 0) adds the first N programs of bfcl-v4-multiturn-gptoss120b, whole (their
tools have no recorded duration: 0 s), shuffled with the SWE-bench ones into one arrival order by
`--seed`, under one token scale: a second kind of program (a program's kind is its trace's agent),
the short one, for agentrt's gate by program kind (docs/vllm.md, "Session 9").

Runs (each on a fresh engine): stock = vLLM's own Scheduler, observed (`StockScheduler`: it
decides nothing and keeps the plugin's records and steps); fcfs, continuum, agentrt = the plugin
under that policy; agentrt-order-off (not run by default) = the plugin under agentrt with
`order_preemption_level=None`, the simulator in `summary` likewise; agentrt-kinds-off (not run by
default) likewise with `kind_gate_ratio=None` (the gate admits in queue order whatever a program's
kind; `summary` adds each kind's mean JCT where the workload has two); in each round every config
once, in `--configs` order rotated by the round's number, so slow phases of a shared machine hit
every config alike and ratios are paired per round. Per run:
mean JCT, the CPU seconds of this process and vLLM's engine-core process over the replay (the
work done: unlike wall time, it does not grow while co-tenants hold the CPU), the load average, the thread
binding and CPU affinity, and the counts noise does not touch (prompt tokens computed, prefix-hit
tokens, tokens recomputed after preemption, preemptions, pin hits), counted for stock as for the
plugin. Runs from before session 6 ran stock bare: its computed tokens counted each call's first
admission only (a lower bound) and it recorded no steps; their settings lack "stock", so `summary`
does not mix them with exact runs.

Threads: the engine runs one OpenMP thread by default (`--omp-num-threads 1`), which measured
the least noise on this 2-CPU machine; each run records the setting and `summary` reads only the
runs of the last run's setting.

The model: `agentrt model bench-wide` (written to a temporary folder without --model; `--shape
bench` for the narrower one), whose prefill time grows with its tokens. `bench` was the default
until session 6: on that faster CPU its re-prefill of a held context took 0.085 s against a median
tool gap of 0.203 s, the live contexts overflowed the cache 51% of the time under fcfs and stock's
prefix cache served 9,500 of ~17,000 prompt tokens, so the workload was no longer the memory-bound
one this benchmark is for; `bench-wide` (2.2x the cost per token) puts re-prefill at 0.177 s and
overflow at 79% (docs/vllm.md, "Session 6, experiment"). Runs record their model's config, and
`summary` reads only the last run's model, so rounds of the two never mix. The summary's
step-cost line gives the fixed step cost, the cost per prefill token (both in the engine's CPU
time per step, from the plugin's own step clock) and their ratio at the workload's median prompt.

Simulator: `sim.calibrate` on the runs' measured steps (wall time, the engine's own step timing;
stock's too where recorded: the same engine and model, timed by the same clock, and vLLM's
`schedule()` without agentrt's ranking costs ~1% of a step less; the summary prints stock's
steps against a calibration on the plugin's steps alone to check it), a Profile of the bench model, the same slice and arrivals under each policy (stock ->
fcfs); counts against the median real run and per-program JCT against each program's median
real JCT, and the step-time model's residuals by step kind; the same without the per-request
term (`Profile.overhead_per_prefill_s`), and the programs whose simulated prompt tokens differ
from a real round's (runs record per-program counts). On this workload the counts are a chaotic
function of the engine's pace (benchmarks/vllm_cpu_pace.py; docs/vllm.md, "Session 5"): a count
can hang on two arrivals a few ms apart (docs/vllm.md, "Session 7"), so `summary` also gives
each count's median and range over replays with the measured step-time noise
(benchmarks/vllm_cpu_noise.py). Runs record their warm-up steps too (the first `WARMUP_STEPS`,
which calibration leaves out), and `summary` says how much longer they took than the model.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from agentrt.engine_adapters.sim import GPUSpec, MeasuredStep, ModelSpec, Profile, SimEngine, calibrate, fit_error
from agentrt.engine_adapters.sim.cost_model import CostModel
from agentrt.engine_adapters.base import GenerationRequest, GenerationResult
from agentrt.engine_adapters.latency import ClientLatency
from agentrt.engine_adapters.vllm import StepRecord, VLLMEngine
from agentrt.engine_adapters.vllm.records import CallRecord
from agentrt.engine_adapters.vllm.tiny_model import SHAPES, write_model
from agentrt.replay.driver import ReplayResult, replay
from agentrt.replay.report import short_kind
from agentrt.replay.trace import LLMStep, Step, ToolStep, TraceProgram, load_trace
from agentrt.replay.workload import Scaling, make_scaling, poisson_arrivals
from agentrt.runtime.runner import run
from agentrt.runtime.scheduling.policies import PolicyConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vllm_cpu_noise as noise  # noqa: E402  (a sibling script: the simulator with the measured step noise)

TRACE = "swebench-lite-deepseek-v3"
BFCL_TRACE = "bfcl-v4-multiturn-gptoss120b"  # `--bfcl N`: N short programs of another kind mixed in
# the model `run` writes without --model; `bench` until session 6, when this faster CPU made its
# re-prefills cheap against the recorded tool gaps (module docstring)
DEFAULT_SHAPE = "bench-wide"
BLOCK_SIZE = 32
MAX_NUM_BATCHED_TOKENS = 2048
# config -> (the policy the runtime and the plugin get, stock vLLM?). `agentrt-order-off`: agentrt
# with `order_preemption_level=None` (session 7's rule off: preempt for order any victim in a later
# queue), as the plugin gets it on the real engine and the simulator in `summary`; not in the
# default `--configs`. (held_out_gate.py's "agentrt-rule-off" is another rule, the idle release's.)
ORDER_OFF = "agentrt-order-off"
# `agentrt-kinds-off`: agentrt with `kind_gate_ratio=None` (session 9's gate by program kind off: the
# gate admits in agentrt's queue order whatever the program's kind); not in the default `--configs`.
KINDS_OFF = "agentrt-kinds-off"
CONFIGS: dict[str, tuple[str | PolicyConfig, bool]] = {
    "stock": ("fcfs", True), "fcfs": ("fcfs", False), "continuum": ("continuum", False), "agentrt": ("agentrt", False),
    ORDER_OFF: (PolicyConfig(name="agentrt", order_preemption_level=None), False),
    KINDS_OFF: (PolicyConfig(name="agentrt", kind_gate_ratio=None), False)}
DEFAULT_CONFIGS = ("stock", "fcfs", "continuum", "agentrt")
COUNTS = ("computed", "prefix_hits", "recomputed", "preemptions", "pin_hits")
WORKLOAD_KEYS = ("programs", "steps", "rate", "seed", "num_gpu_blocks", "max_num_seqs", "max_model_len")
MODEL_KEYS = ("num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads",
              "vocab_size", "max_position_embeddings")
WARMUP_STEPS = 5  # each engine's first steps build its CPU kernels
# What agentrt's decisions price, as recorded with each run; runs from before it (rounds 1-4 of
# docs/vllm.md) priced a prefill by its tokens alone.
PLUGIN_REVISION = "prefill priced per token and attention pair"
# How stock vLLM is measured, as recorded with each run; runs from before it (sessions 1-5) ran it bare:
# counts from each call's first admission only (a lower bound), no steps.
STOCK_REVISION = "observed: vLLM's Scheduler with the plugin's records (StockScheduler)"
# A 2-core x86 slice as a "GPU": peaks are generous upper bounds (calibrate fits the efficiencies
# below them): ~20 GB/s of DRAM bandwidth, 2 cores x 2.5 GHz x 32 fp32 FLOP/cycle (AVX-512 FMA).
CPU_2_CORES = GPUSpec(name="cpu-2-cores", memory_bytes=8 << 30, memory_bandwidth=20e9, peak_flops=160e9,
                      link_bandwidth=1e9, host_bandwidth=10e9)
# A query-key pair's FLOPs at this fraction of the matmuls' efficiency: benchmarks/vllm_cpu_prefix.py's
# fit on the bench model (a pair costs 2.5x its FLOPs at matmul efficiency; docs/vllm.md, "Cached context").
ATTENTION_EFFICIENCY = 0.40
Work = tuple[list[TraceProgram], Scaling, list[float]]


@dataclass(frozen=True, slots=True)
class Run:
    """One engine run, as a line of the results file."""

    workload: dict[str, Any]
    settings: dict[str, str]
    model: dict[str, int]
    round: int
    config: str
    wall_s: float
    cpu_s: float
    load: list[float]
    mean_jct: float
    jct: dict[str, float]
    counts: dict[str, int]
    steps: list[StepRecord]
    engine_cpu_s: float = math.nan  # CPU time of this process and vLLM's engine core over the replay (nan: not measured)
    program_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # per program ({}: not recorded)
    request_latency_s: float | None = None  # the client's per-call latency in and out (`CallLatency`; None: not measured)
    response_latency_s: float | None = None
    scheduler_cls: str = ""  # the scheduler class vLLM ran ("": not recorded)
    # the policy the engine was started with, every field (as the plugin got it; {}: not recorded, before session 8)
    policy: dict[str, Any] = field(default_factory=dict)
    # the engine's first WARMUP_STEPS steps, which calibration leaves out ([]: not recorded, before session 7)
    warmup_steps: list[StepRecord] = field(default_factory=list)

    @classmethod
    def of_line(cls, line: str) -> Run:
        data = json.loads(line)
        data["steps"] = [StepRecord(**s) for s in data["steps"]]
        data["warmup_steps"] = [StepRecord(**s) for s in data.get("warmup_steps", [])]
        return cls(**data)


def bench_profile(model: dict[str, int], max_num_seqs: int) -> Profile:
    """The base profile before calibration: a Llama of `model`'s config.json fields (float32) on
    this CPU, with the engine's limits. Its factors are `calibrate`'s fit to the bench model's 465
    plugin steps in vLLM with one OpenMP thread (docs/vllm.md, round 4: fixed 9.79 ms a step,
    memory efficiency 1, compute efficiency 0.305); `summary` refits them to the runs it reads."""
    spec = ModelSpec(name="bench-llama", num_layers=model["num_hidden_layers"], hidden_size=model["hidden_size"],
                     intermediate_size=model["intermediate_size"], num_heads=model["num_attention_heads"],
                     num_kv_heads=model["num_key_value_heads"], vocab_size=model["vocab_size"],
                     max_model_len=model["max_position_embeddings"], dtype_bytes=4)
    return Profile(name="llama-cpu", model=spec, gpu=CPU_2_CORES, num_gpus=1,
                   max_num_batched_tokens=MAX_NUM_BATCHED_TOKENS, max_num_seqs=max_num_seqs, non_kv_bytes_per_gpu=0,
                   memory_efficiency=1.0, compute_efficiency=0.305, overhead_s=0.00979,
                   block_size=BLOCK_SIZE, attention_efficiency=ATTENTION_EFFICIENCY)


def model_config(folder: str) -> dict[str, int]:
    config = json.loads((Path(folder) / "config.json").read_text())
    return {k: int(config[k]) for k in MODEL_KEYS}


def workload(w: dict[str, Any]) -> Work:
    """The SWE-bench slice, and with `bfcl` (absent: 0) that many BFCL programs, whole, mixed in
    (`with_bfcl`); one token scale for all, so the longest call of either fits `max_model_len`."""
    programs = []
    for program in load_trace(TRACE, limit=w["programs"]):
        steps, num_llm = [], 0
        for step in program.steps:
            num_llm += isinstance(step, LLMStep)
            if num_llm > w["steps"]:
                break
            steps.append(step)
        programs.append(program.model_copy(update={"steps": tool_scaled(steps, w.get("tool_scale", 1.0))}))
    if w.get("bfcl", 0):
        programs = with_bfcl(programs, w["bfcl"], w["seed"])
    scaling = make_scaling(programs, 1.0, w["max_model_len"] - 24)
    return programs, scaling, poisson_arrivals(len(programs), w["rate"], w["seed"])


def with_bfcl(swebench: list[TraceProgram], n: int, seed: int) -> list[TraceProgram]:
    """`swebench` and the first `n` programs of the BFCL trace (their tools have no recorded
    duration: 0 s), shuffled by `seed` into one arrival order. A program's kind is its trace's
    agent (`trace_program_for`), so the two traces are two kinds, BFCL's the short one."""
    programs = [*swebench, *load_trace(BFCL_TRACE, limit=n)]
    random.Random(f"vllm-cpu-bfcl-{seed}").shuffle(programs)
    return programs


def tool_scaled(steps: list[Step], scale: float) -> list[Step]:
    """`steps` with every tool call's recorded duration times `scale` (1: as recorded). A knob
    for a faster engine: a context kept across a tool gap pays only when re-prefilling it would
    cost about as long as the gap (benchmarks/vllm_cpu_anatomy.py), so a result with a scale
    other than 1 must say so."""
    if scale == 1.0:
        return steps
    return [s.model_copy(update={"duration_s": s.duration_s * scale}) if isinstance(s, ToolStep) and s.duration_s
            else s for s in steps]


def counts_of(result: ReplayResult) -> dict[str, int]:
    m = result.metrics
    return {"computed": sum(x.prompt_tokens - x.prefix_hit_tokens + x.recomputed_tokens for x in m),
            "prefix_hits": sum(x.prefix_hit_tokens for x in m), "recomputed": sum(x.recomputed_tokens for x in m),
            "preemptions": sum(x.preemptions for x in m),
            "pin_hits": int(getattr(result.engine_stats, "num_pin_hits", 0))}


def program_counts_of(result: ReplayResult) -> dict[str, dict[str, int]]:
    """Per program, the counts a program has (pin hits are the engine's): which programs' contexts
    a run kept or lost, where the totals of two runs differ."""
    return {m.trace_id: {"computed": m.prompt_tokens - m.prefix_hit_tokens + m.recomputed_tokens,
                         "prefix_hits": m.prefix_hit_tokens, "recomputed": m.recomputed_tokens,
                         "preemptions": m.preemptions} for m in result.metrics}


def settings() -> dict[str, str]:
    """What the noise depends on (the engine's thread binding, this process's CPUs) and the plugin's
    revision (`PLUGIN_REVISION`): `summary` compares only runs of equal settings."""
    return {"plugin": PLUGIN_REVISION, "stock": STOCK_REVISION, "omp_threads_bind": os.environ.get("VLLM_CPU_OMP_THREADS_BIND", "auto"),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset"),
            "affinity": ",".join(map(str, sorted(os.sched_getaffinity(0))))}


def thread_environment(num_threads: int) -> dict[str, str]:
    """The engine's OpenMP threads. On this 2-CPU machine one is the default: torch's default of one
    per CPU (two) spin at each step's barrier while the driver or a co-tenant holds the other CPU
    (decode steps' p90 2.5x their median, twice the CPU time; docs/vllm.md, "Noise"). vLLM's
    VLLM_CPU_OMP_THREADS_BIND does not apply: it binds the workers of vLLM's multiprocess executor,
    and on CPU the worker runs in the engine-core process (VLLM_ENABLE_V1_MULTIPROCESSING=0)."""
    if num_threads < 1:
        sys.exit(f"error: --omp-num-threads must be >= 1 (got {num_threads})")
    return {"OMP_NUM_THREADS": str(num_threads)}


def real_run(model: str, config: str, round_: int, w: dict[str, Any], work: Work) -> Run:
    programs, scaling, arrivals = work
    policy, stock = CONFIGS[config]
    steps: list[StepRecord] = []
    warmup: list[StepRecord] = []
    meters: list[EngineCPU] = []
    latencies: list[CallLatency] = []
    started: list[PolicyConfig | None] = []  # the policy the engine was started with

    async def main() -> ReplayResult:
        engine = VLLMEngine(model, stock=stock, dtype="float32", num_gpu_blocks_override=w["num_gpu_blocks"],
                            block_size=BLOCK_SIZE, max_model_len=w["max_model_len"], max_num_seqs=w["max_num_seqs"],
                            max_num_batched_tokens=MAX_NUM_BATCHED_TOKENS, record_steps=200_000)
        meters.append(EngineCPU(engine))
        latencies.append(CallLatency(engine))
        result = await replay(programs, engine, policy, arrivals, scaling)
        started.append(engine.policy)
        steps.extend(engine.measured_steps[WARMUP_STEPS:])
        warmup.extend(engine.measured_steps[:WARMUP_STEPS])
        return result

    load = list(os.getloadavg())
    start = time.perf_counter()
    result = run(main, virtual_time=False)
    wall = time.perf_counter() - start
    load.extend(os.getloadavg())
    meter = meters[0]
    return Run(w, settings(), model_config(model), round_, config, wall, meter.own, load, result.summary.mean_jct,
               {m.trace_id: m.jct for m in result.metrics if m.status == "ok"}, counts_of(result), steps, meter.total,
               program_counts_of(result), *latencies[0].measured(),
               scheduler_cls=str(getattr(result.engine_stats, "scheduler_cls", "")), warmup_steps=warmup,
               policy=started[0].model_dump(mode="json") if started and started[0] else {})


class EngineCPU:
    """CPU seconds (user + system) between the engine's start and stop (the replay: model loading
    excluded) of this process (`own`) and of this process plus its children, vLLM's engine core
    among them (`total`). Wraps the engine's start and stop, which `replay` calls."""

    def __init__(self, engine: VLLMEngine) -> None:
        self.own = self.total = math.nan
        self._at_start = (0.0, 0.0)
        start, stop = engine.start, engine.stop

        async def start_and_sample(*args: Any) -> None:
            await start(*args)
            self._at_start = self._now()

        async def sample_and_stop() -> None:
            if math.isnan(self.total):
                own, children = self._now()
                self.own, self.total = own - self._at_start[0], own + children - sum(self._at_start)
            await stop()

        engine.start, engine.stop = start_and_sample, sample_and_stop  # type: ignore[method-assign]

    @staticmethod
    def _now() -> tuple[float, float]:
        children = 0.0
        for child in psutil.Process().children(recursive=True):
            try:
                times = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            children += times.user + times.system
        return time.process_time(), children


class CallLatency:
    """The engine-core client's latency per call, in (from `generate` to the plugin's
    `add_request`) and out (from the call's end in the engine, its arrival plus queue wait plus
    service, to the result in this process), on the one monotonic clock both processes read.
    `measured()`: in as its 10th percentile (a call that arrives while a step runs also waits for
    that step, which the simulator models itself), out as its median; None for stock vLLM (no
    plugin record). Wraps the engine's `generate` and its `_result` (where the record arrives)."""

    def __init__(self, engine: VLLMEngine) -> None:
        self.ins: list[float] = []
        self.outs: list[float] = []
        issued: dict[str, float] = {}
        generate, result = engine.generate, engine._result

        async def timed(request: GenerationRequest) -> GenerationResult:
            issued[request.call_id] = time.monotonic()
            return await generate(request)

        def recorded(request: GenerationRequest, num_prompt: int, final: Any, first_output: float | None) -> GenerationResult:
            record = CallRecord.from_output(final.kv_transfer_params)
            if record is not None and request.call_id in issued:
                self.ins.append(record.arrival - issued[request.call_id])
                self.outs.append(time.monotonic() - (record.arrival + record.queue_wait + record.service_time))
            return result(request, num_prompt, final, first_output)

        engine.generate, engine._result = timed, recorded  # type: ignore[method-assign]

    def measured(self) -> tuple[float | None, float | None]:
        if not self.ins:
            return None, None
        return float(np.percentile(self.ins, 10)), statistics.median(self.outs)


def sim_run(w: dict[str, Any], profile: Profile, policy: str | PolicyConfig, work: Work,
            latency: tuple[float, float] = (0.0, 0.0), step_noise: tuple[dict[str, list[float]], int] | None = None
            ) -> ReplayResult:
    """The workload on the simulator; `latency`: the client's per-call latency in and out
    (`ClientLatency`; none by default); `step_noise`: measured/predicted step ratios by kind and a
    seed, to draw each step's noise from (`vllm_cpu_noise.NoisySimEngine`; none by default)."""
    programs, scaling, arrivals = work

    async def main() -> ReplayResult:
        options: dict[str, Any] = dict(num_gpu_blocks=w["num_gpu_blocks"] - 1, block_size=BLOCK_SIZE,
                                       max_num_seqs=w["max_num_seqs"], max_num_batched_tokens=MAX_NUM_BATCHED_TOKENS,
                                       max_model_len=w["max_model_len"])
        sim = (SimEngine(profile, **options) if step_noise is None
               else noise.NoisySimEngine(profile, ratios=step_noise[0], seed=step_noise[1], **options))
        engine = ClientLatency(sim, *latency) if any(latency) else sim
        return await replay(programs, engine, policy, arrivals, scaling)

    return run(main, virtual_time=True)


# -- statistics -------------------------------------------------------------------------------
def spread(values: list[float], fmt: str = ".3g") -> str:
    values = [v for v in values if not math.isnan(v)]  # runs from before a measure existed
    if not values:
        return "-"
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


def step_cost(steps: list[StepRecord], typical_prompt: int) -> dict[str, float]:
    """Fixed cost of a step (one-request decode steps: their median, and their fastest, the cost
    when nothing else slowed the step) and seconds per prefill token (least squares over prefill
    steps), in the engine process's CPU time: what the model costs, without the waits for a CPU
    that co-tenants hold."""
    decode = [s.cpu_seconds for s in steps if s.num_prefill_tokens == 0 and s.num_decode_tokens == 1]
    prefill = [s for s in steps if s.num_prefill_tokens > 0]
    slope, _ = np.polyfit([s.num_prefill_tokens for s in prefill], [s.cpu_seconds for s in prefill], 1)
    fixed, fastest = statistics.median(decode), min(decode)
    return {"fixed_s": fixed, "fastest_fixed_s": fastest, "per_prefill_token_s": float(slope),
            "typical_prompt": typical_prompt, "ratio": float(slope) * typical_prompt / fixed,
            "ratio_to_fastest": float(slope) * typical_prompt / fastest}


def measured(s: StepRecord) -> MeasuredStep:
    """A step record as `calibrate` takes it; records from before `num_requests` existed (0) leave
    the prefilling requests unknown."""
    return MeasuredStep(s.num_prefill_tokens, s.num_decode_tokens, s.num_context_tokens, s.seconds,
                        s.num_attention_pairs, s.num_requests - s.num_decode_tokens if s.num_requests else None)


def predicted(cost: CostModel, s: StepRecord) -> float:
    """The step-time model's seconds for `s`, with its prefilling requests where recorded."""
    return cost.iteration_time(s.num_prefill_tokens, s.num_decode_tokens, s.num_context_tokens, s.num_attention_pairs,
                               max(s.num_requests - s.num_decode_tokens, 0))


def residuals(profile: Profile, steps: list[StepRecord]) -> dict[str, float]:
    """Where the step-time model misses: median measured/predicted wall time by step kind, the
    share of steps over 2x their prediction, and how much of the steps' wall time the engine
    spent waiting for a CPU (wall - CPU time), which no model of tokens can predict."""
    cost = CostModel(profile)
    out: dict[str, float] = {}
    kinds = {"decode": [s for s in steps if s.num_prefill_tokens == 0],
             "prefill": [s for s in steps if s.num_prefill_tokens > 0],
             "multi_prefill": [s for s in steps if s.num_requests - s.num_decode_tokens > 1]}
    for kind, group in kinds.items():
        ratio = [s.seconds / predicted(cost, s) for s in group]
        out[f"{kind}_median_ratio"] = statistics.median(ratio) if ratio else float("nan")
        out[f"{kind}_over_2x"] = sum(r > 2 for r in ratio) / len(ratio) if ratio else float("nan")
        out[f"{kind}_steps"] = len(group)
    wall = sum(s.seconds for s in steps)
    out["waiting_share"] = 1 - sum(s.cpu_seconds for s in steps) / wall
    out["steps_waiting_over_half"] = sum(s.seconds > 2 * s.cpu_seconds for s in steps) / len(steps)
    return out


def warmup_excess(runs: list[Run], profile: Profile) -> list[float]:
    """Per run that recorded them (session 7 on), how much longer the engine's first
    `WARMUP_STEPS` steps took than the calibrated model predicts for them (seconds): a fresh
    engine builds its CPU kernels there, which delays the first program's calls; calibration
    leaves these steps out."""
    cost = CostModel(profile)
    return [sum(s.seconds - predicted(cost, s) for s in r.warmup_steps) for r in runs if r.warmup_steps]


def rounds_table(runs: list[Run]) -> str:
    """Every run, by round: the load next to it, each config's ratios to the same round's stock, and
    the plugin's steps (count, their summed CPU and wall seconds on the engine's own clock)."""
    rows = ["| round | config | load (1 min, start-end) | wall (s) | mean JCT (s) | JCT / stock | CPU (s) | CPU / stock | "
            "steps: n, CPU s, wall s | " + " | ".join(COUNTS) + " |",
            "|---:|---|---|---:|---:|---:|---:|---:|---|" + "---:|" * len(COUNTS)]
    stock = {r.round: r for r in runs if r.config == "stock"}
    for r in sorted(runs, key=lambda r: r.round):
        base = stock.get(r.round)
        jct = f"{r.mean_jct / base.mean_jct:.2f}" if base else "-"
        cpu = f"{r.engine_cpu_s / base.engine_cpu_s:.2f}" if base else "-"
        rows.append(f"| {r.round} | {r.config} | {r.load[0]:.1f}-{r.load[3]:.1f} | {r.wall_s:.0f} | {r.mean_jct:.2f} | "
                    f"{jct} | {r.engine_cpu_s:.1f} | {cpu} | {len(r.steps)}, {sum(s.cpu_seconds for s in r.steps):.1f}, "
                    f"{sum(s.seconds for s in r.steps):.1f} | " + " | ".join(f"{r.counts[c]:,}" for c in COUNTS) + " |")
    return "\n".join(rows)


def agree(config: str, ratios: list[float]) -> str:
    if config == "stock":
        return "-"
    return "yes (all < 1)" if all(x < 1 for x in ratios) else "no (all > 1)" if all(x > 1 for x in ratios) else "no"


def real_table(runs: dict[str, list[Run]]) -> str:
    """Per config over the complete rounds: median [range] of mean JCT, of its ratio to stock in
    the same round, of the replay's CPU time and its ratio, sign agreement, and the counts."""
    base = {r.round: r for r in runs["stock"]}
    rows = ["| config | mean JCT (s) | JCT / stock | every round < 1 | CPU (s) | CPU / stock | "
            + " | ".join(COUNTS) + " |", "|---|---:|---:|:---:|---:|---:|" + "---:|" * len(COUNTS)]
    for config, rs in runs.items():
        jct = [r.mean_jct / base[r.round].mean_jct for r in rs]
        cpu = [r.engine_cpu_s / base[r.round].engine_cpu_s for r in rs]
        counts = " | ".join(spread([float(r.counts[c]) for r in rs], ",.0f") for c in COUNTS)
        rows.append(f"| {config} | {spread([r.mean_jct for r in rs])} | {spread(jct, '.2f')} | {agree(config, jct)} | "
                    f"{spread([r.engine_cpu_s for r in rs])} | {spread(cpu, '.2f')} | {counts} |")
    return "\n".join(rows)


def median_jct(rs: list[Run]) -> dict[str, float]:
    return {p: statistics.median(r.jct[p] for r in rs if p in r.jct) for p in rs[0].jct}


def sim_rows(runs: dict[str, list[Run]], sims: dict[str, ReplayResult]) -> tuple[str, dict[str, Any]]:
    rows = ["| real run | sim mean JCT (s) | real median mean JCT (s) | median per-program JCT error | "
            + " | ".join(f"{c} sim/real" for c in COUNTS) + " |", "|---|---:|---:|---:|" + "---:|" * len(COUNTS)]
    out: dict[str, Any] = {}
    for config, sim in sims.items():
        real = median_jct(runs[config])
        errors = [abs(m.jct - real[m.trace_id]) / real[m.trace_id] for m in sim.metrics
                  if m.status == "ok" and m.trace_id in real]
        sim_counts = counts_of(sim)
        real_counts = {c: statistics.median(r.counts[c] for r in runs[config]) for c in COUNTS}
        ratio = {c: sim_counts[c] / real_counts[c] if real_counts[c] else float("nan") for c in COUNTS}
        out[config] = {"median_jct_error": statistics.median(errors), "sim_counts": sim_counts,
                       "real_counts": real_counts, "sim_mean_jct": sim.summary.mean_jct}
        rows.append(f"| {config} | {sim.summary.mean_jct:.2f} | {statistics.median(r.mean_jct for r in runs[config]):.2f}"
                    f" | {statistics.median(errors):.1%} | "
                    + " | ".join(f"{sim_counts[c]}/{real_counts[c]:g}" + (f" ({ratio[c]:.2f})" if real_counts[c] else "")
                                 for c in COUNTS) + " |")
    return "\n".join(rows), out


def kind_rows(runs: dict[str, list[Run]], programs: list[TraceProgram], sims: dict[str, ReplayResult]
              ) -> tuple[str, dict[str, Any]]:
    """Mean JCT by program kind (a trace's agent, shown as `replay`'s table shows it), where the
    workload has more than one (`--bfcl`): per config, the real rounds' median [range] and the
    deterministic replay's."""
    kind_of = {p.program_id: short_kind(p.source) for p in programs}
    kinds = sorted(set(kind_of.values()))
    if len(kinds) < 2:
        return "", {}

    def mean_of(jct: dict[str, float], kind: str) -> float:
        return statistics.mean(j for p, j in jct.items() if kind_of.get(p) == kind)

    rows = ["| config | " + " | ".join(f"{k}: real (s) | sim (s)" for k in kinds) + " |",
            "|---|" + "---:|---:|" * len(kinds)]
    out: dict[str, Any] = {}
    for config, rs in runs.items():
        sim = {m.trace_id: m.jct for m in sims[config].metrics if m.status == "ok"}
        out[config] = {k: {"real": [mean_of(r.jct, k) for r in rs], "sim": mean_of(sim, k)} for k in kinds}
        rows.append(f"| {config} | " + " | ".join(f"{spread(out[config][k]['real'], '.2f')} | {out[config][k]['sim']:.2f}"
                                                  for k in kinds) + " |")
    return "\n".join(rows), out


def noisy_rows(runs: dict[str, list[Run]], w: dict[str, Any], profile: Profile, work: Work,
               latency: tuple[float, float], ratios: dict[str, list[float]],
               replays: int = noise.NUM_REPLAYS) -> tuple[str, dict[str, Any]]:
    """`sim_rows` over `replays` replays with the measured step noise (seeds 0 ..): per
    config the median [range] of each count against the real median, the median of the mean JCT,
    and the median per-program JCT error of each program's median simulated JCT."""
    rows = ["| real run | sim mean JCT (s), median | real median mean JCT (s) | median per-program JCT error | "
            + " | ".join(f"{c} sim median [range] / real (ratio)" for c in COUNTS) + " |",
            "|---|---:|---:|---:|" + "---:|" * len(COUNTS)]
    out: dict[str, Any] = {}
    for config, rs in runs.items():
        sims = [sim_run(w, profile, CONFIGS[config][0], work, latency, (ratios, seed)) for seed in range(replays)]
        real = median_jct(rs)
        sim_jct = {p: statistics.median(m.jct for s in sims for m in s.metrics if m.trace_id == p and m.status == "ok")
                   for p in real}
        error = statistics.median(abs(sim_jct[p] - real[p]) / real[p] for p in real)
        counts = [counts_of(s) for s in sims]
        sim_counts = {c: statistics.median(x[c] for x in counts) for c in COUNTS}
        real_counts = {c: statistics.median(r.counts[c] for r in rs) for c in COUNTS}
        ranges = {c: [min(x[c] for x in counts), max(x[c] for x in counts)] for c in COUNTS}
        out[config] = {"median_jct_error": error, "sim_counts": sim_counts, "real_counts": real_counts,
                       "sim_counts_range": ranges, "sim_mean_jct": statistics.median(s.summary.mean_jct for s in sims)}
        rows.append(f"| {config} | {out[config]['sim_mean_jct']:.2f} | {statistics.median(r.mean_jct for r in rs):.2f} | "
                    f"{error:.1%} | " + " | ".join(
                        f"{sim_counts[c]:g} [{ranges[c][0]}-{ranges[c][1]}] / {real_counts[c]:g}"
                        + (f" ({sim_counts[c] / real_counts[c]:.2f})" if real_counts[c] else "") for c in COUNTS) + " |")
    return "\n".join(rows), out


def client_latency(runs: list[Run]) -> tuple[float, float]:
    """The client's per-call latency in and out for the simulator: the median over the runs that
    measured it (0 where none did: runs from before it was recorded)."""
    ins = [r.request_latency_s for r in runs if r.request_latency_s is not None]
    outs = [r.response_latency_s for r in runs if r.response_latency_s is not None]
    return (statistics.median(ins), statistics.median(outs)) if ins and outs else (0.0, 0.0)


def program_rows(runs: dict[str, list[Run]], sims: dict[str, ReplayResult]) -> str:
    """Where the simulated and real counts part: per config, the programs whose simulated prompt
    tokens computed differ from a real round's by a block (32 tokens) or more, with every round's
    count (rounds recorded before per-program counts existed are left out)."""
    rows = ["| config | program | sim computed (preemptions) | real computed (preemptions), by round |", "|---|---|---:|---|"]
    for config, sim in sims.items():
        real = [r for r in runs[config] if r.program_counts]
        for p, c in sorted(program_counts_of(sim).items()):
            seen = [r.program_counts[p] for r in real if p in r.program_counts]
            if any(abs(x["computed"] - c["computed"]) >= BLOCK_SIZE for x in seen):
                rows.append(f"| {config} | {p} | {c['computed']:,} ({c['preemptions']}) | "
                            + ", ".join(f"{x['computed']:,} ({x['preemptions']})" for x in seen) + " |")
    return "\n".join(rows) if len(rows) > 2 else "none (or no round recorded per-program counts)"


# -- the two commands -------------------------------------------------------------------------
def read_runs(path: Path) -> list[Run]:
    if not path.exists():
        sys.exit(f"error: no results file {path}; write one with `benchmarks/vllm_cpu.py run --results {path}`")
    return [Run.of_line(line) for line in path.read_text().splitlines() if line.strip()]


def rotated(configs: list[str], n: int) -> list[str]:
    """Round r runs the configs rotated by r - 1: none always runs last, when a shared machine's load
    has had longest to grow."""
    n %= len(configs)
    return configs[n:] + configs[:n]


def round_line(r: Run) -> str:
    """What `run` prints of a finished run; it names the scheduler class vLLM ran (cuda_check.py
    reads it: AgentAsyncScheduler and StockAsyncScheduler on a GPU)."""
    return (f"round {r.round} {r.config} ({r.scheduler_cls or 'scheduler not recorded'}): mean JCT {r.mean_jct:.2f} s, "
            f"CPU {r.engine_cpu_s:.1f} s (driver {r.cpu_s:.1f} s), {r.counts}, {r.wall_s:.0f} s wall, "
            f"load {r.load[0]:.1f}-{r.load[3]:.1f}")


def cmd_run(args: argparse.Namespace) -> None:
    w = {k: getattr(args, k) for k in WORKLOAD_KEYS}
    if args.tool_scale != 1.0:  # recorded only when set: earlier lines had none and stay comparable
        w["tool_scale"] = args.tool_scale
    if args.bfcl:  # likewise
        w["bfcl"] = args.bfcl
    configs = [c for c in args.configs.split(",") if c]
    unknown = sorted(set(configs) - set(CONFIGS))
    if unknown or "stock" not in configs or args.rounds < 1 or args.bfcl < 0:
        sys.exit(f"error: --configs must include stock and name only {', '.join(CONFIGS)} (got {unknown or configs}); "
                 f"--rounds >= 1 (got {args.rounds}); --bfcl >= 0 (got {args.bfcl})")
    os.environ.update(thread_environment(args.omp_num_threads))
    done = [r.round for r in read_runs(args.results) if r.workload == w] if args.results.exists() else []
    work = workload(w)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or str(write_model(Path(tmp) / "bench-llama", SHAPES[args.shape]))
        for round_ in range(max(done, default=0) + 1, max(done, default=0) + 1 + args.rounds):
            for config in rotated(configs, round_ - 1):
                r = real_run(model, config, round_, w, work)
                with args.results.open("a") as f:
                    f.write(json.dumps(asdict(r)) + "\n")
                print(round_line(r), flush=True)
    print(f"appended to {args.results}; `benchmarks/vllm_cpu.py summary --results {args.results}` reads every round")


def last_workload(every: list[Run]) -> tuple[Run, list[Run]]:
    """The file's last run and every run of its workload, settings and model (what `summary` reads)."""
    last = every[-1]
    return last, [r for r in every if (r.workload, r.settings, r.model) == (last.workload, last.settings, last.model)]


def calibrated_profile(runs: list[Run], path: Path) -> Profile:
    """The bench model's profile calibrated on `runs`' steps (stock's too where recorded), as
    `summary` does; exits with a one-line error when there are none."""
    steps = [s for r in runs for s in r.steps]
    if not steps:
        sys.exit(f"error: {path} holds no recorded steps; run `vllm_cpu.py run` first")
    last = runs[-1]
    return calibrate(map(measured, steps), bench_profile(last.model, last.workload["max_num_seqs"]))


def cmd_summary(args: argparse.Namespace) -> None:
    every = read_runs(args.results)
    if not every:
        sys.exit(f"error: {args.results} holds no runs")
    last, runs = last_workload(every)
    stock_rounds = {r.round for r in runs if r.config == "stock"}
    complete = [r for r in runs if r.round in stock_rounds]
    by_config: dict[str, list[Run]] = {}
    for r in sorted(complete, key=lambda r: (list(CONFIGS).index(r.config), r.round)):
        by_config.setdefault(r.config, []).append(r)
    w = last.workload
    programs, scaling, arrivals = work = workload(w)
    title = (f"{TRACE}: {w['programs']} programs x first {w['steps']} LLM calls"
             + (f" + {w['bfcl']} {BFCL_TRACE} programs, whole, shuffled in" if w.get("bfcl") else "")
             + f", token scale {scaling.scale:.4f}, "
             f"rate {w['rate']}/s, seed {w['seed']}, KV {w['num_gpu_blocks']} x {BLOCK_SIZE} tokens, "
             f"max_model_len {w['max_model_len']}, max_num_seqs {w['max_num_seqs']}, "
             f"tool durations x {w.get('tool_scale', 1.0)}, {len(stock_rounds)} rounds with "
             f"stock; settings {last.settings}" + (f"; {len(every) - len(runs)} runs of other settings left out"
                                                   if len(every) > len(runs) else ""))
    print(f"{title}\n\nEvery run:\n\n{rounds_table(runs)}\n\nPer config, median [range] over rounds:\n\n"
          f"{real_table(by_config)}")
    steps = [s for rs in by_config.values() for r in rs for s in r.steps]
    prompts = [scaling.tokens(s.input_tokens) for p in programs for s in p.steps if isinstance(s, LLMStep)]
    cost = step_cost(steps, int(statistics.median(prompts)))
    base = bench_profile(last.model, w["max_num_seqs"])
    profile = calibrate(map(measured, steps), base, name="llama-cpu-calibrated")
    fit = fit_error(profile, map(measured, steps))
    # The model without the per-request term (steps that do not say their requests), to compare.
    flat = calibrate([replace(measured(s), num_prefill_seqs=None) for s in steps], base)
    flat_fit, flat_misses = fit_error(flat, map(measured, steps)), residuals(flat, steps)
    misses = residuals(profile, steps)
    stock_check = stock_steps_check(by_config, base)
    latency = client_latency(runs)
    sims = {config: sim_run(w, profile, CONFIGS[config][0], work, latency) for config in by_config}
    table, sim_out = sim_rows(by_config, sims)
    kinds_table, kinds_out = kind_rows(by_config, programs, sims)
    print(f"\nStep cost (engine process CPU time, {len(steps)} steps): fixed {cost['fixed_s'] * 1e3:.2f} ms "
          f"median (fastest {cost['fastest_fixed_s'] * 1e3:.2f} ms), {cost['per_prefill_token_s'] * 1e6:.1f} us per "
          f"prefill token; x median prompt {cost['typical_prompt']} tokens = {cost['ratio']:.1f}x the median fixed "
          f"cost ({cost['ratio_to_fastest']:.1f}x the fastest)")
    excess = warmup_excess(runs, profile)
    if excess:
        print(f"Warm-up: the first {WARMUP_STEPS} steps of each run took {spread([e * 1e3 for e in excess], '.0f')} ms "
              f"longer than the calibrated model predicts ({len(excess)} runs)")
    print(f"\nCalibrated: overhead {profile.overhead_s * 1e3:.2f} ms + {profile.overhead_per_prefill_s * 1e3:.2f} ms per "
          f"prefilling request, memory efficiency {profile.memory_efficiency:.3g}, "
          f"compute efficiency {profile.compute_efficiency:.3g} (attention x{profile.attention_efficiency:.3g}); fit: mean |error| {fit.mean_abs_rel_error:.1%}, "
          f"RMSE {fit.rmse_s * 1e3:.2f} ms; measured/predicted median: decode {misses['decode_median_ratio']:.2f}, "
          f"prefill {misses['prefill_median_ratio']:.2f} (of which with 2+ prefilling requests "
          f"{misses['multi_prefill_median_ratio']:.2f}, {misses['multi_prefill_steps']}); steps over 2x prediction: decode "
          f"{misses['decode_over_2x']:.1%}, prefill {misses['prefill_over_2x']:.1%}; the engine waited for a CPU "
          f"{misses['waiting_share']:.0%} of its steps' wall time (in {misses['steps_waiting_over_half']:.0%} of steps "
          "over half of the step)")
    print(f"Without the per-request term: overhead {flat.overhead_s * 1e3:.2f} ms, compute efficiency "
          f"{flat.compute_efficiency:.3g} (attention x{flat.attention_efficiency:.3g}); fit: mean |error| "
          f"{flat_fit.mean_abs_rel_error:.1%}, RMSE {flat_fit.rmse_s * 1e3:.2f} ms; measured/predicted median: decode "
          f"{flat_misses['decode_median_ratio']:.2f}, prefill {flat_misses['prefill_median_ratio']:.2f} (2+ prefilling "
          f"requests {flat_misses['multi_prefill_median_ratio']:.2f})")
    if stock_check:
        c = stock_check
        print(f"Stock's {c['stock_steps']} steps under a calibration on the plugin's {c['plugin_steps']} steps alone: "
              f"measured/predicted median decode {c['stock']['decode_median_ratio']:.3f} (plugin's own "
              f"{c['plugin']['decode_median_ratio']:.3f}), prefill {c['stock']['prefill_median_ratio']:.3f} "
              f"({c['plugin']['prefill_median_ratio']:.3f}); fit mean |error| {c['stock_fit']:.1%} ({c['plugin_fit']:.1%}); "
              f"schedule() CPU median {c['stock_schedule_s'] * 1e3:.3f} ms ({c['plugin_schedule_s'] * 1e3:.3f} ms)")
    print(f"\nSimulator vs real vLLM, with the client's measured latency per call ({latency[0] * 1e3:.1f} ms in, "
          f"{latency[1] * 1e3:.1f} ms out; counts: sim/real median (ratio)):\n\n{table}")
    if kinds_table:
        print(f"\nMean JCT by program kind, real median [range] over rounds and the replay above:\n\n{kinds_table}")
    flat_table, flat_out = sim_rows(by_config, {config: sim_run(w, flat, CONFIGS[config][0], work, latency)
                                                 for config in by_config})
    print(f"\nThe same without the per-request term (how much a calibration detail moves the counts):\n\n{flat_table}")
    if any(latency):
        bare_table, bare_out = sim_rows(by_config, {config: sim_run(w, profile, CONFIGS[config][0], work)
                                                    for config in by_config})
        print(f"\nThe same without the client latency:\n\n{bare_table}")
    noisy_out: dict[str, Any] = {}
    if args.noise_replays > 0:
        model = CostModel(profile)
        ratios = noise.residual_ratios(steps, lambda s: predicted(model, s))
        noisy_table, noisy_out = noisy_rows(by_config, w, profile, work, latency, ratios, args.noise_replays)
        print(f"\nThe same, median over {args.noise_replays} replays whose steps each take the model's time x a "
              f"measured/predicted ratio of a real step of its kind, drawn with seeds 0-{args.noise_replays - 1} "
              f"(benchmarks/vllm_cpu_noise.py: one deterministic replay can sit on either side of a race a "
              f"few ms wide):\n\n{noisy_table}")
    print(f"\nPrograms whose computed tokens differ (sim vs each real round):\n\n{program_rows(by_config, sims)}")
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps({
            "title": title, "step_cost": cost, "residuals": misses,
            "profile": {"overhead_s": profile.overhead_s, "overhead_per_prefill_s": profile.overhead_per_prefill_s,
                        "memory_efficiency": profile.memory_efficiency,
                        "compute_efficiency": profile.compute_efficiency,
                        "attention_efficiency": profile.attention_efficiency, "fit": asdict(fit)},
            "client_latency_s": latency, "stock_steps_check": stock_check, "sim": sim_out, "sim_without_per_request_term": flat_out,
            "sim_with_step_noise": noisy_out, "by_kind": kinds_out}, indent=1))
        print(f"\nwrote {args.output}")


def stock_steps_check(by_config: dict[str, list[Run]], base: Profile) -> dict[str, Any]:
    """Are stock's steps the same engine's as the plugin's (and so fit for calibration)? Both under a
    calibration on the plugin's steps alone: median measured/predicted by step kind, the fit's mean
    |error|, and `schedule()`'s CPU time. Empty where stock recorded no steps (runs before session 6)."""
    stock = [s for r in by_config.get("stock", []) for s in r.steps]
    plugin = [s for config, rs in by_config.items() if config != "stock" for r in rs for s in r.steps]
    if not stock or not plugin:
        return {}
    profile = calibrate(map(measured, plugin), base)
    return {"stock_steps": len(stock), "plugin_steps": len(plugin), "stock": residuals(profile, stock),
            "plugin": residuals(profile, plugin), "stock_fit": fit_error(profile, map(measured, stock)).mean_abs_rel_error,
            "plugin_fit": fit_error(profile, map(measured, plugin)).mean_abs_rel_error,
            "stock_schedule_s": statistics.median(s.schedule_cpu_seconds for s in stock),
            "plugin_schedule_s": statistics.median(s.schedule_cpu_seconds for s in plugin)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_ = commands.add_parser("run", help="run rounds and append them to the results file")
    run_.add_argument("--model", default=None, help="model folder (default: write `agentrt model SHAPE` to a temp dir)")
    run_.add_argument("--shape", default=DEFAULT_SHAPE, choices=[k for k in SHAPES if k != "tiny"],
                      help=f"the shape written without --model (default {DEFAULT_SHAPE}; see the module docstring)")
    run_.add_argument("--configs", default=",".join(DEFAULT_CONFIGS),
                      help=f"comma-separated, of {', '.join(CONFIGS)} (default {','.join(DEFAULT_CONFIGS)})")
    run_.add_argument("--rounds", type=int, default=1, help="interleaved rounds (each runs every config once)")
    run_.add_argument("--programs", type=int, default=8)
    run_.add_argument("--steps", type=int, default=5, help="LLM calls kept per program")
    run_.add_argument("--bfcl", type=int, default=0,
                      help=f"also this many whole programs of {BFCL_TRACE}, another (short) kind, mixed in (default 0)")
    run_.add_argument("--rate", type=float, default=2.0, help="Poisson arrivals, programs/s")
    run_.add_argument("--num-gpu-blocks", type=int, default=48, help="KV blocks of 32 tokens (incl. vLLM's null block)")
    run_.add_argument("--max-model-len", type=int, default=1024, help="the longest context, tokens scaled to fit")
    run_.add_argument("--max-num-seqs", type=int, default=8)
    run_.add_argument("--tool-scale", type=float, default=1.0,
                      help="multiply every recorded tool duration by this (default 1: as recorded)")
    run_.add_argument("--omp-num-threads", type=int, default=1,
                      help="OpenMP threads of the engine (OMP_NUM_THREADS; default 1, see docs/vllm.md)")
    run_.add_argument("--seed", type=int, default=0)
    run_.add_argument("--results", type=Path, default=Path("results/vllm_cpu.jsonl"))
    summary = commands.add_parser("summary", help="summarize every round in the results file, simulator included")
    summary.add_argument("--results", type=Path, default=Path("results/vllm_cpu.jsonl"))
    summary.add_argument("--output", type=Path, default=None, help="also write the summary's numbers as JSON")
    summary.add_argument("--noise-replays", type=int, default=noise.NUM_REPLAYS,
                         help=f"replays with the measured step noise per config (default {noise.NUM_REPLAYS}; "
                              "0: leave that table out, the slowest part of the summary)")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    cmd_run(args) if args.command == "run" else cmd_summary(args)


if __name__ == "__main__":
    main()
