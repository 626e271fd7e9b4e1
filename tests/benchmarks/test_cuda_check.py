"""benchmarks/cuda_check.py cannot run here (no CUDA machine): its plan is checked instead, each
step's command against the parser that will read it, and what it expects of a step's output
against the code that prints it, so the script does not drift from the commands and files it
drives. (`--cpu` runs it on the CPU engine: docs/vllm.md, "The CUDA path".)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from agentrt.cli import build_parser

from bench_scripts import ROOT, load_script


@pytest.fixture(scope="module")
def check() -> ModuleType:
    return load_script("cuda_check")


def test_every_step_fits_the_eight_minute_budget_and_the_cpu_run_skips_only_the_machine_check(check: ModuleType) -> None:
    assert sum(check.SHARES.values()) <= 1.0
    gpu, cpu = (check.step_commands(Path("m"), Path("r.jsonl"), flag) for flag in (False, True))
    assert list(gpu) == list(check.SHARES) and list(cpu) == ["model", "plugin", "bench"]


def test_each_step_command_parses_with_the_program_it_runs(check: ModuleType) -> None:
    commands = check.step_commands(Path("/tmp/m"), Path("/tmp/r.jsonl"), cpu=False)
    model = build_parser().parse_args(commands["model"][3:])  # after python -m agentrt
    assert (model.kind, model.folder) == ("tiny", Path("/tmp/m"))
    bench = load_script("vllm_cpu").build_parser().parse_args(commands["bench"][2:])  # after python benchmarks/vllm_cpu.py
    assert (bench.command, bench.model, bench.rounds, bench.configs) == ("run", "/tmp/m", 1, "stock,agentrt")
    assert bench.results == Path("/tmp/r.jsonl")
    assert all((ROOT / arg).is_file() for arg in commands["plugin"] if arg.startswith("tests/"))


def test_a_dry_run_prints_the_plan_and_runs_nothing() -> None:
    done = subprocess.run([sys.executable, "benchmarks/cuda_check.py", "--dry-run", "--budget-s", "100"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    lines = done.stdout.splitlines()
    assert [line.split(" ")[0] for line in lines] == ["machine", "model", "plugin", "bench"]
    assert lines[2].startswith("plugin (at most 50 s): ") and "tests/engine_adapters/test_vllm.py" in lines[2]


@pytest.mark.parametrize("cpu", [False, True])
def test_the_bench_step_expects_the_round_lines_vllm_cpu_prints_with_the_class_vllm_runs(check: ModuleType,
                                                                                        cpu: bool) -> None:
    bench = load_script("vllm_cpu")
    kind = "" if cpu else "Async"
    lines = [bench.round_line(bench.Run({}, {}, {}, 1, config, 10.0, 1.0, [0.5] * 4, 2.0, {}, {"computed": 1}, [],
                                        scheduler_cls=f"{name}{kind}Scheduler"))
             for config, name in (("stock", "Stock"), ("agentrt", "Agent"))]
    assert all(any(line.startswith(w) for line in lines) for w in check.expected(cpu)["bench"])
    other = check.expected(not cpu)["bench"]  # the other setting's classes: the check would fail
    assert not any(line.startswith(w) for w in other for line in lines)
    assert not any(check.LOG_LINE.match(line) for line in lines)


def test_vllms_log_lines_are_left_out_of_what_a_step_shows(check: ModuleType) -> None:
    output = "\n".join(["(EngineCore pid=17680) INFO 12-02 23:31:16 [utils.py:347] Using LBHNC KV cache layout.",
                        "WARNING 12-02 23:31:17 [cpu.py:224] Triton is not installed.",
                        "round 1 stock (StockScheduler): mean JCT 1.50 s", "every step passed"])
    assert check.without_logs(output).splitlines() == ["round 1 stock (StockScheduler): mean JCT 1.50 s",
                                                       "every step passed"]
