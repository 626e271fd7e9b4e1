"""benchmarks/vllm_cpu_prefix.py's arithmetic, on hand-built steps (the measurement itself needs vLLM)."""

from __future__ import annotations

import pytest

from agentrt.engine_adapters.kv import chunk_pairs
from agentrt.engine_adapters.vllm import StepRecord
from agentrt.engine_adapters.vllm.tiny_model import SHAPES

from bench_scripts import load_script

prefix_script = load_script("vllm_cpu_prefix")


def row(k: int, n: int, per_pair: float) -> dict[str, float]:
    seconds = 0.01 + n * 4e-4 + chunk_pairs(k, n) * per_pair
    return {"repeat": 0, "cached": k, "new": n, "pairs": chunk_pairs(k, n), "seconds": seconds, "cpu_seconds": seconds}


def test_the_fit_separates_a_pairs_cost_from_a_tokens_and_the_cells_compare_with_fresh() -> None:
    rows = [row(k, n, 3e-7) for k in (0, 256, 768) for n in (64, 256)]
    fit = prefix_script.fit(rows, "cpu_seconds")
    assert (fit["fixed_s"], fit["per_token_s"], fit["per_pair_s"]) == pytest.approx((0.01, 4e-4, 3e-7))
    assert fit["pair_in_tokens"] == pytest.approx(3e-7 / 4e-4)
    cell = {(c["cached"], c["new"]): c["over_fresh"] for c in prefix_script.cells(rows, "cpu_seconds")}
    assert cell[0, 64] == 1.0 and cell[768, 256] == pytest.approx(row(768, 256, 3e-7)["seconds"] / row(0, 256, 3e-7)["seconds"])


def test_the_cost_models_pair_price_is_attention_flops_over_matmul_flops() -> None:
    shape = SHAPES["bench"]
    params = shape.num_layers * (4 * shape.hidden_size ** 2 + 3 * shape.hidden_size * shape.intermediate_size
                                 + 2 * shape.hidden_size) + 512 * shape.hidden_size  # + the LM head
    assert prefix_script.model_pair_in_tokens(shape) == pytest.approx(4 * 4 * 8 * 64 / (2 * params))


def test_a_step_that_did_not_continue_the_cached_prefix_is_refused() -> None:
    continued = StepRecord(128, 0, 384, 0.1, chunk_pairs(256, 128), 1, 0.1)
    assert prefix_script._row(0, 256, 128, [continued])["pairs"] == chunk_pairs(256, 128)
    fresh = StepRecord(384, 0, 384, 0.1, chunk_pairs(0, 384), 1, 0.1)  # the prefix cache missed
    with pytest.raises(SystemExit, match="did not hold the prefix"):
        prefix_script._row(0, 256, 128, [fresh])
