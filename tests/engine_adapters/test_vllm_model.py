"""The vLLM adapter's pieces that need no running engine: the tiny model, bad model folders,
options, and the metadata that travels with each request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentrt.engine_adapters.base import SchedHints
from agentrt.engine_adapters.factory import create_engine
from agentrt.engine_adapters.vllm import CallRecord, VLLMEngine
from agentrt.engine_adapters.vllm.records import call_meta, parse_meta
from agentrt.engine_adapters.vllm.tiny_model import SHAPES, LlamaShape
from agentrt.exceptions import ConfigError, EngineError

pytestmark = pytest.mark.vllm


def test_tiny_model_is_a_llama_with_a_chat_tokenizer(tiny_model: Path) -> None:
    from transformers import AutoTokenizer

    config = json.loads((tiny_model / "config.json").read_text())
    assert config["head_dim"] == 64 and config["num_hidden_layers"] == 2 and config["vocab_size"] == 512
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    ids = tokenizer("the agent calls a tool")["input_ids"]
    assert tokenizer.decode(ids) == "the agent calls a tool"
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False,
                                         add_generation_prompt=True)
    assert text == "<|bos|><|user|>hi<|eos|><|assistant|>"


def test_bench_model_is_the_wider_llama_with_the_same_tokenizer(tmp_path: Path, tiny_model: Path) -> None:
    from agentrt.cli import main as cli_main

    assert cli_main(["model", "bench", str(tmp_path)]) == 0
    config = json.loads((tmp_path / "config.json").read_text())
    shape = SHAPES["bench"]
    assert (config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"]) == (
        shape.num_layers, shape.hidden_size, shape.intermediate_size)
    assert config["head_dim"] == 64 and config["num_attention_heads"] == shape.hidden_size // 64
    assert shape.hidden_size * shape.intermediate_size > 10 * 128 * 256  # wider than tiny's MLP
    assert (tmp_path / "tokenizer.json").read_text() == (tiny_model / "tokenizer.json").read_text()
    with pytest.raises(ValueError, match="multiple of 64"):
        LlamaShape(num_layers=2, hidden_size=100, intermediate_size=256)


def test_missing_model_folder_fails_before_the_engine_starts(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="does not exist.*agentrt model tiny"):
        VLLMEngine(str(tmp_path / "nowhere"))
    with pytest.raises(EngineError, match="config.json"):
        VLLMEngine(str(tmp_path))  # a folder without a model
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(EngineError, match="cannot read"):
        create_engine("vllm", model=str(tmp_path))


def test_bad_options_name_the_value(tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match="num_gpu_blocks_override"):
        VLLMEngine(str(tiny_model), num_gpu_blocks_override=0)
    with pytest.raises(ConfigError, match="no_such_option"):
        VLLMEngine(str(tiny_model), no_such_option=1)
    with pytest.raises(ConfigError, match="--model DIR"):
        create_engine("vllm")
    assert isinstance(create_engine("vllm", model=str(tiny_model), max_num_seqs=2), VLLMEngine)


def test_metadata_round_trips_and_plain_requests_are_their_own_program() -> None:
    hints = SchedHints(program_arrival=1.5, program_service=2.0, priority=3.0, gap_samples=(0.5, 4.0), program_kind="swe")
    assert parse_meta(call_meta("p.1", "p", hints), "req-x") == ("p.1", "p", hints)
    assert parse_meta(None, "req-x") == ("req-x", "req-x", SchedHints())
    record = CallRecord("p.1", 10.0, first_scheduled=10.5, service_time=0.25, pin_ttl=2.0)
    assert CallRecord.from_output(record.as_output()) == record
    assert CallRecord.from_output(None) is None


def test_bench_wide_model_costs_more_per_token_than_bench(tmp_path: Path) -> None:
    """`agentrt model bench-wide` (docs/vllm.md, "Session 6, experiment"): the shape the folder holds,
    wider than `bench` in both the attention and the MLP."""
    from agentrt.cli import main as cli_main

    assert cli_main(["model", "bench-wide", str(tmp_path)]) == 0
    config = json.loads((tmp_path / "config.json").read_text())
    wide, bench = SHAPES["bench-wide"], SHAPES["bench"]
    assert (config["num_hidden_layers"], config["hidden_size"], config["intermediate_size"]) == (
        wide.num_layers, wide.hidden_size, wide.intermediate_size)
    assert config["head_dim"] == 64
    assert wide.hidden_size > bench.hidden_size and wide.intermediate_size > bench.intermediate_size
