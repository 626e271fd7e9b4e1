"""benchmarks/held_out_gate.py: the rule-off arm is agentrt with the fixed idle limit only, and
each cell's ratios are agentrt over fcfs (mean, p99) and over the rule-off arm (mean)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from agentrt.runtime.scheduling.policies import PolicyConfig

from bench_scripts import load_script


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
