"""Fault: the vLLM engine process is killed mid-run. The call in flight fails with a typed
EngineDiedError, a call made afterwards fails the same way at once (no hang), and the program
that finished before keeps its result."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest

import agentrt
from agentrt.engine_adapters.vllm import VLLMEngine
from agentrt.programs.records import ProgramStatus

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(600),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:torch", "ignore::FutureWarning:vllm",
                                         "ignore::DeprecationWarning:vllm", "ignore::FutureWarning:torch",
                                         "ignore:Exception ignored in. <function Context.__del__"
                                         ":pytest.PytestUnraisableExceptionWarning",
                                         "ignore::pytest.PytestUnraisableExceptionWarning")]


@agentrt.program
async def generate(max_tokens: int) -> int:
    reply = await agentrt.llm("count to a thousand", max_tokens=max_tokens, ignore_eos=True)
    return reply.output_tokens


def engine_core() -> psutil.Process:
    cores = [p for p in psutil.Process(os.getpid()).children(recursive=True) if "EngineCore" in " ".join(p.cmdline()) + p.name()]
    assert len(cores) == 1, cores
    return cores[0]


def test_killing_the_engine_fails_calls_with_a_typed_error_and_keeps_finished_results(tiny_model: Path) -> None:
    seen: dict[str, Any] = {}

    async def main() -> None:
        engine = VLLMEngine(str(tiny_model), max_model_len=1024, max_num_seqs=1, dtype="float32")
        async with agentrt.Runtime(engine=engine) as rt:
            finished = rt.submit(generate, 4)
            seen["finished"] = await finished
            victim = rt.submit(generate, 1000)
            while engine.statistics().num_calls < 2:  # the victim's call has gone to vLLM
                await anyio.sleep(0.01)
            os.kill(engine_core().pid, signal.SIGKILL)
            seen["victim"] = await rt.wait([victim], return_exceptions=True)
            late = rt.submit(generate, 4)
            seen["late"] = await rt.wait([late], return_exceptions=True)
            seen["records"] = [h.record for h in (finished, victim, late)]

    agentrt.run(main, virtual_time=False)
    ok, victim, late = seen["records"]
    assert seen["finished"] == 4 and ok.status is ProgramStatus.OK
    for record in (victim, late):
        assert record.status is ProgramStatus.FAILED
        assert record.error is not None and "EngineDiedError: llm (" in record.error, record.error
