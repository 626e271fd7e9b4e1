"""`run`: the garbage collector's thresholds during a virtual-time run, and after it."""

from __future__ import annotations

import gc

import pytest

from agentrt.runtime.runner import SIM_GC_THRESHOLD, run


def test_virtual_run_collects_less_often_and_restores_the_thresholds() -> None:
    before = gc.get_threshold()
    assert before != SIM_GC_THRESHOLD, "the test needs thresholds that differ from the run's"

    async def main() -> tuple[int, int, int]:
        return gc.get_threshold()

    assert run(main) == SIM_GC_THRESHOLD
    assert gc.get_threshold() == before


def test_thresholds_are_restored_when_the_run_fails() -> None:
    before = gc.get_threshold()

    async def main() -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run(main)
    assert gc.get_threshold() == before
