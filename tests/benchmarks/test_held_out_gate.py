"""benchmarks/held_out_gate.py: the rule-off arm is agentrt with the fixed idle limit only, and
each cell's ratios are agentrt over fcfs (mean, p99) and over the rule-off arm (mean)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agentrt.runtime.scheduling.policies import PolicyConfig

from bench_scripts import ROOT, load_script


def test_the_rule_off_arm_is_agentrt_without_the_reprefill_scaled_release() -> None:
    held_out = load_script("held_out_gate")
    off = held_out.policy_of(held_out.RULE_OFF)
    assert isinstance(off, PolicyConfig)
    assert (off.name, off.residency_idle_reprefill) == ("agentrt", None)
    assert PolicyConfig(name="agentrt").residency_idle_reprefill is not None  # the default arm has the rule
    assert held_out.policy_of("agentrt") == "agentrt"


def test_a_cell_prints_agentrt_over_fcfs_and_over_the_rule_off_arm(capsys: pytest.CaptureFixture[str]) -> None:
    held_out = load_script("held_out_gate")

    def result(mean: float, p99: float) -> SimpleNamespace:
        return SimpleNamespace(summary=SimpleNamespace(mean_jct=mean, p99_jct=p99))

    held_out.print_cell("c", {"fcfs": result(10.0, 20.0), "agentrt": result(11.0, 16.0),
                              held_out.RULE_OFF: result(8.0, 30.0)})
    assert capsys.readouterr().out.rstrip().endswith("| 1.100 | 0.800 | 1.375 |")


def test_inside_an_atlas_queue_the_older_program_goes_first_on_a_held_out_cpu2_cell() -> None:
    """docs/scheduling.md, "Tenth pass": on the cpu2 cell 20 programs / 48 blocks / 4 calls / 2.5 per s
    agentrt was 1.072x fcfs's mean JCT (p99 1.279x) while calls of a queue went by call arrival;
    by program arrival, as continuum's program-level FCFS, 0.942x (p99 1.085x); with the eleventh
    pass's pin pricing merged, 0.965x (p99 1.061x), against 1.048x (p99 1.319x) for that pricing
    with calls by arrival."""
    held_out = load_script("held_out_gate")
    [(_, results)] = held_out.cpu_cells(ROOT / "docs" / "vllm_cpu_runs_s5.jsonl", [(20, 2.5, 48, 4, 1024, 1)],
                                        policies=("fcfs", "agentrt"))
    fcfs, agentrt = results["fcfs"].summary, results["agentrt"].summary
    assert fcfs.num_failed == agentrt.num_failed == 0
    assert agentrt.mean_jct <= 0.98 * fcfs.mean_jct, (agentrt.mean_jct, fcfs.mean_jct)
    assert agentrt.p99_jct <= 1.1 * fcfs.p99_jct, (agentrt.p99_jct, fcfs.p99_jct)
