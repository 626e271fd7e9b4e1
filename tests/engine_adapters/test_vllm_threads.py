"""The CPU engine's OpenMP threads: one by default on machines with few CPUs (torch's default of one
per CPU spins at every step's barrier there), the option or the user's OMP_NUM_THREADS otherwise,
and the setting reaches vLLM's engine-core process without leaking into the driver's environment."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import agentrt
from agentrt.engine_adapters.vllm import VLLMEngine
from agentrt.engine_adapters.vllm.config import FEW_CPUS, VLLMOptions
from agentrt.exceptions import ConfigError


def options(tmp_path: Path, **kwargs: object) -> VLLMOptions:
    return VLLMOptions(model=str(tmp_path), **kwargs)


@pytest.mark.parametrize("num_cpus", [1, FEW_CPUS])
def test_one_thread_by_default_on_few_cpus(tmp_path: Path, num_cpus: int) -> None:
    assert options(tmp_path).engine_environment({}, num_cpus) == {"OMP_NUM_THREADS": "1"}


def test_torch_default_on_more_cpus(tmp_path: Path) -> None:
    assert options(tmp_path).engine_environment({}, FEW_CPUS + 1) == {}


def test_users_setting_is_kept_and_the_option_wins(tmp_path: Path) -> None:
    assert options(tmp_path).engine_environment({"OMP_NUM_THREADS": "2"}, 1) == {}
    assert options(tmp_path, omp_num_threads=3).engine_environment({"OMP_NUM_THREADS": "2"}, 1) == \
        {"OMP_NUM_THREADS": "3"}
    assert options(tmp_path, omp_num_threads=4).engine_environment({}, 64) == {"OMP_NUM_THREADS": "4"}


def test_bad_thread_count_is_a_config_error(tiny_model: Path) -> None:
    with pytest.raises(ConfigError, match="omp_num_threads"):
        VLLMEngine(str(tiny_model), omp_num_threads=0)


@pytest.fixture
def two_cpus() -> Iterator[None]:
    """This process (and the engine core it starts) on at most FEW_CPUS CPUs, with no
    OMP_NUM_THREADS of its own: the machine the default is for, whatever runs the test."""
    affinity, threads = os.sched_getaffinity(0), os.environ.pop("OMP_NUM_THREADS", None)
    os.sched_setaffinity(0, sorted(affinity)[:FEW_CPUS])
    try:
        yield
    finally:
        os.sched_setaffinity(0, affinity)
        if threads is not None:
            os.environ["OMP_NUM_THREADS"] = threads


@pytest.mark.vllm
@pytest.mark.timeout(600)
@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch", "ignore::FutureWarning:vllm",
                            "ignore::DeprecationWarning:vllm", "ignore::FutureWarning:torch",
                            "ignore:Exception ignored in. <function Context.__del__"
                            ":pytest.PytestUnraisableExceptionWarning")
@pytest.mark.usefixtures("two_cpus")
def test_engine_core_runs_one_thread_on_few_cpus(tiny_model: Path) -> None:
    """torch's own default here would be one thread per usable CPU (two on a 2-CPU machine)."""
    seen: dict[str, object] = {}

    async def main() -> None:
        engine = VLLMEngine(str(tiny_model), num_gpu_blocks_override=16, block_size=32, max_model_len=256,
                            dtype="float32")
        async with agentrt.Runtime(engine=engine, policy="fcfs"):
            seen["threads"] = (await engine.query_statistics()).num_threads
            seen["driver_env"] = os.environ.get("OMP_NUM_THREADS")

    agentrt.run(main, virtual_time=False)
    assert seen == {"threads": 1, "driver_env": None}
