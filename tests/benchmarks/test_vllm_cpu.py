"""The CPU benchmark (benchmarks/vllm_cpu.py) without vLLM: its workload on the simulator, virtual
time (memory-bound as designed, and the simulated win the real runs are compared with), and its
results file (runs appended by separate invocations, summarized per round against stock)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from agentrt.engine_adapters.vllm import StepRecord, VLLMOptions
from agentrt.engine_adapters.vllm.records import META_KEY
from agentrt.engine_adapters.vllm.tiny_model import MAX_POSITIONS, SHAPES, VOCAB_SIZE
from agentrt.replay.trace import LLMStep, ToolStep
from agentrt.runtime.scheduling.policies import PolicyConfig, policy_config
from agentrt.runtime.scheduling.scheduler import ProgramScheduler

from bench_scripts import load_script

WORKLOAD = {"programs": 8, "steps": 5, "rate": 2.0, "seed": 0, "num_gpu_blocks": 48, "max_num_seqs": 8,
            "max_model_len": 1024}
SHAPE = SHAPES["bench"]
MODEL = {"num_hidden_layers": SHAPE.num_layers, "hidden_size": SHAPE.hidden_size,  # `agentrt model bench`'s config
         "intermediate_size": SHAPE.intermediate_size, "num_attention_heads": SHAPE.num_heads,
         "num_key_value_heads": SHAPE.num_heads, "vocab_size": VOCAB_SIZE, "max_position_embeddings": MAX_POSITIONS}


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_script("vllm_cpu")


def test_the_defaults_are_the_workload_tested_here(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(bench, "cmd_run", lambda args: seen.update(vars(args)))
    monkeypatch.setattr(sys, "argv", ["vllm_cpu.py", "run"])
    bench.main()
    assert {k: seen[k] for k in bench.WORKLOAD_KEYS} == WORKLOAD
    assert seen["omp_num_threads"] == 1
    assert seen["model"] is None and seen["shape"] == "bench-wide"  # written to a temp dir: see the docstring


def test_the_engine_runs_the_openmp_threads_asked_for(bench: ModuleType) -> None:
    assert bench.thread_environment(2) == {"OMP_NUM_THREADS": "2"}
    with pytest.raises(SystemExit, match="must be >= 1"):
        bench.thread_environment(0)


def test_the_workload_is_memory_bound_and_agentrt_computes_less_on_the_simulator(bench: ModuleType) -> None:
    work = bench.workload(WORKLOAD)
    programs, scaling, _ = work
    contexts = [scaling.tokens([s for s in p.steps if isinstance(s, LLMStep)][-1].input_tokens) for p in programs]
    assert sum(contexts) > 2 * (WORKLOAD["num_gpu_blocks"] - 1) * bench.BLOCK_SIZE  # more live context than KV cache
    profile = bench.bench_profile(MODEL, WORKLOAD["max_num_seqs"])
    fcfs, agentrt = (bench.sim_run(WORKLOAD, profile, policy, work) for policy in ("fcfs", "agentrt"))
    computed = {name: bench.counts_of(r)["computed"] for name, r in (("fcfs", fcfs), ("agentrt", agentrt))}
    assert computed["agentrt"] <= 0.6 * computed["fcfs"]
    assert agentrt.summary.mean_jct < 0.8 * fcfs.summary.mean_jct
    assert fcfs.summary.num_failed == agentrt.summary.num_failed == 0


def fake_run(bench: ModuleType, config: str, round_: int, mean_jct: float, cpu_s: float) -> Any:
    steps = [StepRecord(n, 0, n, 0.01 + n * 1e-3, n * n // 2, 1, 0.005 + n * 1e-3) for n in (16, 64, 128, 256)]
    steps += [StepRecord(0, 1, 200, 0.012, 200, 1, 0.006)] * 4 + [StepRecord(0, 1, 200, 0.004, 200, 1, 0.003)]
    return bench.Run(WORKLOAD, {"omp_threads_bind": "auto"}, MODEL, round_, config, 60.0, 1.0, [1.0, 1.0, 1.0] * 2,
                     mean_jct, {p.program_id: mean_jct for p in bench.workload(WORKLOAD)[0]}, dict.fromkeys(bench.COUNTS, 10 * round_), steps, cpu_s)


def test_runs_round_trip_through_the_results_file_and_pair_with_their_rounds_stock(bench: ModuleType,
                                                                                  tmp_path: Path) -> None:
    runs = [fake_run(bench, "stock", 1, 10.0, 20.0), fake_run(bench, "agentrt", 1, 5.0, 8.0),
            fake_run(bench, "stock", 2, 20.0, 20.0), fake_run(bench, "agentrt", 2, 30.0, 12.0)]
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(asdict(r)) + "\n" for r in runs))
    assert bench.read_runs(path) == runs
    table = bench.real_table({"stock": runs[0::2], "agentrt": runs[1::2]}).splitlines()
    agentrt_row = [cell.strip() for cell in table[-1].split("|")]
    # JCT ratios 0.5 (round 1) and 1.5 (round 2): median 1, signs disagree; CPU ratios 0.4 and 0.6
    assert agentrt_row[1:7] == ["agentrt", "17.5 [5-30]", "1.00 [0.50-1.50]", "no", "10 [8-12]", "0.50 [0.40-0.60]"]
    assert bench.agree("agentrt", [0.5, 0.9]) == "yes (all < 1)"


def test_the_warmup_steps_round_trip_and_are_measured_against_the_calibrated_model(bench: ModuleType,
                                                                                   tmp_path: Path) -> None:
    from agentrt.engine_adapters.sim.cost_model import CostModel

    first = [StepRecord(316, 0, 316, 0.5, 316 * 317 // 2, 1, 0.4), StepRecord(0, 1, 317, 0.03, 317, 1, 0.02)]
    runs = [replace(fake_run(bench, "stock", 1, 10.0, 20.0), warmup_steps=first), fake_run(bench, "agentrt", 1, 5.0, 8.0)]
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(asdict(r)) + "\n" for r in runs))
    assert bench.read_runs(path) == runs
    profile = bench.bench_profile(MODEL, WORKLOAD["max_num_seqs"])
    predicted = sum(bench.predicted(CostModel(profile), s) for s in first)
    assert bench.warmup_excess(runs, profile) == [pytest.approx(0.53 - predicted)]  # the run without them: left out


def test_each_round_starts_with_the_next_config(bench: ModuleType) -> None:
    configs = list(bench.DEFAULT_CONFIGS)
    orders = [bench.rotated(configs, n) for n in range(len(configs))]
    assert [order[-1] for order in orders] == ["agentrt", "stock", "fcfs", "continuum"]
    assert all(sorted(order) == sorted(configs) for order in orders) and bench.rotated(configs, 4) == configs


def test_the_step_cost_separates_the_per_token_cost_from_the_fixed_one(bench: ModuleType) -> None:
    cost = bench.step_cost(fake_run(bench, "agentrt", 1, 1.0, 1.0).steps, typical_prompt=200)
    assert cost["fixed_s"] == pytest.approx(0.006)
    assert cost["per_prefill_token_s"] == pytest.approx(1e-3)
    assert cost["ratio"] == pytest.approx(0.2 / 0.006)
    assert cost["fastest_fixed_s"] == pytest.approx(0.003) and cost["ratio_to_fastest"] == pytest.approx(0.2 / 0.003)


def test_summary_reads_only_the_last_runs_workload(bench: ModuleType, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    other = replace(fake_run(bench, "stock", 1, 99.0, 99.0), workload={**WORKLOAD, "programs": 4})
    runs = [other, fake_run(bench, "stock", 1, 10.0, 20.0), fake_run(bench, "agentrt", 1, 5.0, 8.0)]
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(asdict(r)) + "\n" for r in runs))
    bench.cmd_summary(type("Args", (), {"results": path, "output": tmp_path / "summary.json", "noise_replays": 0})())
    out = capsys.readouterr().out
    assert "1 runs of other settings left out" in out and "99" not in out.split("Every run:")[1].split("Step cost")[0]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["sim"].keys() == {"stock", "agentrt"}
    assert "replays whose steps" not in out and summary["sim_with_step_noise"] == {}  # --noise-replays 0: left out


def test_stocks_steps_are_checked_against_a_calibration_on_the_plugins_alone(bench: ModuleType) -> None:
    """Stock's steps (recorded since session 6) go into the calibration; the summary checks them
    against one on the plugin's steps alone: the same engine gives the plugin's ratios, a slower
    one higher; stock lines without steps (before session 6) give no check."""
    base = bench.bench_profile(MODEL, WORKLOAD["max_num_seqs"])
    plugin = [fake_run(bench, "agentrt", 1, 1.0, 1.0)]
    same = bench.stock_steps_check({"stock": [fake_run(bench, "stock", 1, 1.0, 1.0)], "agentrt": plugin}, base)
    assert same["stock"]["decode_median_ratio"] == same["plugin"]["decode_median_ratio"]
    assert same["stock"]["prefill_median_ratio"] == same["plugin"]["prefill_median_ratio"]
    assert same["stock_fit"] == same["plugin_fit"] and same["stock_steps"] == same["plugin_steps"] == 9
    stock = fake_run(bench, "stock", 1, 1.0, 1.0)
    slow = bench.stock_steps_check({"stock": [replace(stock, steps=[replace(x, seconds=1.5 * x.seconds)
                                                                    for x in stock.steps])], "agentrt": plugin}, base)
    assert slow["stock"]["decode_median_ratio"] == pytest.approx(1.5 * slow["plugin"]["decode_median_ratio"])
    assert bench.stock_steps_check({"stock": [replace(stock, steps=[])], "agentrt": plugin}, base) == {}


def test_summary_names_the_programs_whose_counts_part_from_the_simulators(bench: ModuleType) -> None:
    """Per-program counts travel with each run; the summary lists the programs whose simulated
    prompt tokens differ from a real round's by a block or more, and no other; runs written
    before per-program counts existed read back without them."""
    work = bench.workload(WORKLOAD)
    sim = bench.sim_run(WORKLOAD, bench.bench_profile(MODEL, WORKLOAD["max_num_seqs"]), "fcfs", work)
    counts = bench.program_counts_of(sim)
    off, same = sorted(counts)[:2]
    real = {**counts, off: {**counts[off], "computed": counts[off]["computed"] + 64}}
    runs = {"fcfs": [replace(fake_run(bench, "fcfs", 1, 1.0, 1.0), program_counts=real),
                     fake_run(bench, "fcfs", 2, 1.0, 1.0)]}
    rows = bench.program_rows(runs, {"fcfs": sim}).splitlines()
    assert len(rows) == 3 and f"| fcfs | {off} |" in rows[2] and same not in "".join(rows)
    assert f"{counts[off]['computed'] + 64:,} (0)" in rows[2]
    old = json.dumps({k: v for k, v in asdict(runs["fcfs"][1]).items() if k != "program_counts"})
    assert bench.Run.of_line(old).program_counts == {}
    assert bench.program_rows({"fcfs": runs["fcfs"][1:]}, {"fcfs": sim}).startswith("none")


def test_the_simulator_gets_the_client_latency_the_plugin_runs_measured(bench: ModuleType) -> None:
    """The median over the runs that measured it (lines from before it, and stock's before session 6,
    did not), and a
    replay through it takes longer; none measured: none added."""
    runs = [replace(fake_run(bench, "fcfs", r, 1.0, 1.0), request_latency_s=i, response_latency_s=o)
            for r, (i, o) in enumerate([(0.001, 0.004), (0.002, 0.005), (0.003, 0.003)], start=1)]
    assert bench.client_latency([*runs, fake_run(bench, "stock", 1, 1.0, 1.0)]) == (0.002, 0.004)
    assert bench.client_latency([fake_run(bench, "stock", 1, 1.0, 1.0)]) == (0.0, 0.0)
    work = bench.workload(WORKLOAD)
    profile = bench.bench_profile(MODEL, WORKLOAD["max_num_seqs"])
    bare = bench.sim_run(WORKLOAD, profile, "agentrt", work)
    late = bench.sim_run(WORKLOAD, profile, "agentrt", work, (0.002, 0.004))
    assert late.summary.mean_jct > bare.summary.mean_jct + 0.02  # 5 calls a program, 6 ms each


def test_a_tool_scale_multiplies_the_recorded_tool_durations_and_only_them(bench: ModuleType) -> None:
    def tools(w: dict[str, Any]) -> list[float | None]:
        return [s.duration_s for p in bench.workload(w)[0] for s in p.steps if isinstance(s, ToolStep)]

    def prompts(w: dict[str, Any]) -> list[int]:
        return [s.input_tokens for p in bench.workload(w)[0] for s in p.steps if isinstance(s, LLMStep)]

    halved = dict(WORKLOAD, tool_scale=0.5)
    assert [d and d / 2 for d in tools(WORKLOAD)] == pytest.approx(tools(halved))
    assert any(tools(WORKLOAD)) and prompts(halved) == prompts(WORKLOAD)


def test_the_default_tool_scale_and_bfcl_are_not_recorded_so_earlier_rounds_stay_comparable(
        bench: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(bench, "workload", lambda w: seen.append(w) or sys.exit(0))
    for argv in (["run"], ["run", "--tool-scale", "0.5"], ["run", "--bfcl", "3"]):
        monkeypatch.setattr(sys, "argv", ["vllm_cpu.py", *argv, "--results", str(tmp_path / "r.jsonl")])
        with pytest.raises(SystemExit):
            bench.main()
    assert seen == [WORKLOAD, dict(WORKLOAD, tool_scale=0.5), dict(WORKLOAD, bfcl=3)]


def test_bfcl_mixes_whole_programs_of_a_second_kind_into_one_seeded_arrival_order(bench: ModuleType) -> None:
    """`--bfcl N`: the SWE-bench slice plus the first N BFCL programs, whole, shuffled by the seed
    (the same seed, the same order), under one token scale; without it the workload is as before."""
    from agentrt.replay.trace import load_trace

    mixed = dict(WORKLOAD, bfcl=4)
    programs, scaling, arrivals = bench.workload(mixed)
    swebench, bfcl = bench.workload(WORKLOAD)[0], load_trace(bench.BFCL_TRACE, limit=4)
    assert len(programs) == len(arrivals) == 12 and {p.source for p in programs} == {swebench[0].source, bfcl[0].source}
    assert sorted(p.program_id for p in programs) == sorted(p.program_id for p in [*swebench, *bfcl])
    by_id = {p.program_id: p for p in programs}
    assert all(by_id[p.program_id] == p for p in bfcl)  # whole programs, as recorded
    assert [p.program_id for p in programs] != [p.program_id for p in [*swebench, *bfcl]]  # shuffled in
    assert [p.program_id for p in bench.workload(mixed)[0]] == [p.program_id for p in programs]
    assert [p.program_id for p in bench.workload(dict(mixed, seed=1))[0]] != [p.program_id for p in programs]
    longest = max(s.input_tokens + s.output_tokens for p in programs for s in p.steps if isinstance(s, LLMStep))
    assert scaling.scale == pytest.approx((WORKLOAD["max_model_len"] - 26) / longest)
    assert bench.workload(dict(WORKLOAD, bfcl=0))[0] == swebench


def test_the_plugin_reads_two_program_kinds_off_the_mixed_workloads_calls(bench: ModuleType,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Each call's kind travels in its metadata (`call_meta`, read back by the plugin's
    `parse_meta`): the SWE-bench programs' agent and BFCL's, one per program."""
    from agentrt.engine_adapters.vllm.records import call_meta, parse_meta

    kinds: dict[str, str | None] = {}

    def record(request: Any) -> None:
        _, _, hints = parse_meta(call_meta(request.call_id, request.program_id, request.hints), "-")
        kinds[request.program_id] = hints.program_kind

    class Recorded(bench.SimEngine):  # the runtime calls `submit` where an engine has it, else `generate`
        async def generate(self, request: Any) -> Any:
            record(request)
            return await super().generate(request)

        def submit(self, request: Any, on_done: Any) -> bool:
            record(request)
            return bool(super().submit(request, on_done))

    monkeypatch.setattr(bench, "SimEngine", Recorded)
    w = dict(WORKLOAD, programs=2, steps=2, bfcl=2)
    programs = bench.workload(w)[0]
    bench.sim_run(w, bench.bench_profile(MODEL, w["max_num_seqs"]), "agentrt", bench.workload(w))
    assert len(kinds) == 4 and sorted(kinds.values()) == sorted(p.source for p in programs)
    assert len(set(kinds.values())) == 2


def test_summary_gives_the_mean_jct_of_each_program_kind_where_there_are_two(bench: ModuleType) -> None:
    w = dict(WORKLOAD, programs=2, steps=2, bfcl=2)
    programs = bench.workload(w)[0]
    swe = {p.program_id for p in programs if "SWE-agent" in p.source}
    runs = [replace(fake_run(bench, "agentrt", r, 1.0, 1.0), jct={p.program_id: (10.0 * r if p.program_id in swe else r)
                                                                   for p in programs}) for r in (1, 2, 3)]
    sim = SimpleNamespace(metrics=[SimpleNamespace(trace_id=p.program_id, status="ok",
                                                   jct=20.0 if p.program_id in swe else 2.0) for p in programs])
    table, out = bench.kind_rows({"agentrt": runs}, programs, {"agentrt": sim})
    swe_kind, bfcl_kind = sorted(out["agentrt"], key=lambda k: "SWE-agent" not in k)
    assert out["agentrt"][swe_kind] == {"real": [10.0, 20.0, 30.0], "sim": 20.0}
    assert out["agentrt"][bfcl_kind] == {"real": [1.0, 2.0, 3.0], "sim": 2.0}
    assert "| agentrt | " in table and "20.00 [10.00-30.00] | 20.00" in table
    assert bench.kind_rows({"agentrt": runs}, bench.workload(WORKLOAD)[0], {"agentrt": sim}) == ("", {})


class StartedEngine:
    """Stands in for `VLLMEngine` in `real_run`: started as the runtime starts an engine, it keeps
    the policy (as `VLLMEngine.start` does) and serves nothing."""

    def __init__(self, model: str, **options: Any) -> None:
        self.policy: PolicyConfig | None = None
        self.measured_steps: list[StepRecord] = []

    async def start(self, policy: PolicyConfig | str, task_group: Any) -> None:
        self.policy = policy_config(policy)

    async def stop(self) -> None:
        pass

    async def generate(self, request: Any) -> Any:
        raise AssertionError("no call in this test")

    def _result(self, *args: Any) -> Any:
        raise AssertionError("no call in this test")


def started_runs(bench: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, config: str) -> dict[str, Any]:
    """`real_run` of agentrt and `config` on an engine that only starts and stops: the policy each
    run records."""
    async def started_only(programs: Any, engine: Any, policy: Any, arrivals: Any, scaling: Any) -> Any:
        await engine.start(policy, None)
        await engine.stop()
        return SimpleNamespace(summary=SimpleNamespace(mean_jct=1.0), metrics=[], engine_stats=None)

    monkeypatch.setattr(bench, "VLLMEngine", StartedEngine)
    monkeypatch.setattr(bench, "replay", started_only)
    (tmp_path / "config.json").write_text(json.dumps(MODEL))
    work = bench.workload(WORKLOAD)
    return {c: bench.real_run(str(tmp_path), c, 1, WORKLOAD, work) for c in ("agentrt", config)}


def plugin_policy(bench: ModuleType, tmp_path: Path, config: str) -> Any:
    """The policy the plugin builds its ProgramScheduler with, from the settings `config` gives it."""
    settings = VLLMOptions(model=str(tmp_path)).plugin_settings(policy_config(bench.CONFIGS[config][0]))
    return ProgramScheduler(PolicyConfig.model_validate(settings[META_KEY].get("policy", {}))).policy


def test_agentrt_order_off_runs_the_plugin_under_agentrt_without_the_order_rule(
        bench: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`--configs agentrt-order-off`: `real_run` starts the engine with agentrt's policy, every field
    default but `order_preemption_level=None`, and records it with the run; through the settings the
    plugin gets (`VLLMOptions.plugin_settings`, read back as the plugin does) its policy then
    preempts for order any victim (no service threshold), where agentrt's needs 4 s."""
    runs = started_runs(bench, monkeypatch, tmp_path, bench.ORDER_OFF)
    assert runs[bench.ORDER_OFF].policy == {**runs["agentrt"].policy, "order_preemption_level": None}
    assert runs["agentrt"].policy["order_preemption_level"] == 3 and runs["agentrt"].policy["name"] == "agentrt"
    assert bench.Run.of_line(json.dumps(asdict(runs[bench.ORDER_OFF]))).policy == runs[bench.ORDER_OFF].policy
    assert plugin_policy(bench, tmp_path, bench.ORDER_OFF).order_service is None
    assert plugin_policy(bench, tmp_path, "agentrt").order_service == 4.0


def test_agentrt_kinds_off_runs_the_plugin_under_agentrt_without_the_kind_gate(
        bench: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`--configs agentrt-kinds-off`: the engine starts with agentrt's policy, every field default
    but `kind_gate_ratio=None`, recorded with the run; the plugin's policy built from those settings
    then learns no kinds (agentrt's: ratio 4)."""
    runs = started_runs(bench, monkeypatch, tmp_path, bench.KINDS_OFF)
    assert runs[bench.KINDS_OFF].policy == {**runs["agentrt"].policy, "kind_gate_ratio": None}
    assert runs["agentrt"].policy["kind_gate_ratio"] == 4.0 and runs["agentrt"].policy["name"] == "agentrt"
    assert plugin_policy(bench, tmp_path, bench.KINDS_OFF).kinds is None
    assert plugin_policy(bench, tmp_path, "agentrt").kinds.ratio == 4.0


@pytest.mark.parametrize("config, override", [("agentrt-order-off", {"order_preemption_level": None}),
                                              ("agentrt-kinds-off", {"kind_gate_ratio": None})])
def test_summary_replays_an_agentrt_variant_on_the_simulator_with_the_same_override(
        bench: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, config: str,
        override: dict[str, Any]) -> None:
    """Every simulator replay `summary` makes of the config (deterministic, without the per-request
    term, with the step noise) gets agentrt's policy with the config's override
    (`order_preemption_level=None`, `kind_gate_ratio=None`), as many as agentrt's, and the config
    has its own row of sim-vs-real numbers."""
    seen: list[Any] = []
    sim_run = bench.sim_run

    def recorded(w: Any, profile: Any, policy: Any, *args: Any) -> Any:
        seen.append(policy)
        return sim_run(w, profile, policy, *args)

    monkeypatch.setattr(bench, "sim_run", recorded)
    runs = [fake_run(bench, c, 1, 5.0, 8.0) for c in ("stock", "agentrt", config)]
    path = tmp_path / "runs.jsonl"
    path.write_text("".join(json.dumps(asdict(r)) + "\n" for r in runs))
    bench.cmd_summary(type("Args", (), {"results": path, "output": tmp_path / "summary.json", "noise_replays": 3})())
    off = [p for p in seen if isinstance(p, PolicyConfig)]
    assert off and all(p == PolicyConfig(name="agentrt", **override) for p in off)
    assert len(off) == seen.count("agentrt")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["sim"].keys() == summary["sim_with_step_noise"].keys() == {"stock", "agentrt", config}


def test_the_default_configs_leave_the_agentrt_variants_out(bench: ModuleType, monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(bench, "cmd_run", lambda args: seen.update(vars(args)))
    monkeypatch.setattr(sys, "argv", ["vllm_cpu.py", "run"])
    bench.main()
    assert seen["configs"] == "stock,fcfs,continuum,agentrt"
