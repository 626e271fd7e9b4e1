"""Faults through `agentrt serve --engine vllm` on real vLLM (CPU build, tiny random model): a call
past its timeout and a call whose program is deleted are aborted in vLLM, their KV freed (the
plugin's used blocks on /metrics return to where they were); the engine-core process killed
mid-call fails the call in flight with a typed error, /health and later calls answer 503, and the
server stays up with its programs and metrics.

One server serves the module (its start is most of the cost); the engine-kill test ends it, so it
runs last. Every wait is on an event the test observes (a streamed token, a /health answer, a
gauge), each with a bound."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from serve_process import metric, programs, vllm_server_process

pytestmark = [pytest.mark.vllm, pytest.mark.timeout(900)]  # the first test also waits for vLLM to start
MODEL = "tiny"
DEFAULT_TIMEOUT = 1.0  # the server's --request-timeout
LONG = {"X-Agentrt-Timeout": "600"}
WAIT_SECONDS = 60  # bound on each observed event


@pytest.fixture(scope="module")
def server(tiny_model: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with vllm_server_process("--model", str(tiny_model), "--served-model-name", MODEL,
                             "--request-timeout", str(DEFAULT_TIMEOUT)) as (url, proc):
        quick = httpx.post(f"{url}/v1/chat/completions", json=_body("warm up", 4), timeout=WAIT_SECONDS,
                           headers={**LONG, "X-Agentrt-Program-End": "1"})  # the first call's one-time costs
        assert quick.status_code == 200, quick.text
        yield url, proc


def _body(content: str, max_tokens: int, *, stream: bool = False) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], "max_tokens": max_tokens,
            "ignore_eos": True, "stream": stream}


LONG_CALL = 1900  # tokens: the tiny model's context is 2,048; 16-23 s of decoding on a 2-core CPU (measured)


def _used_blocks(url: str) -> float:
    """KV blocks the scheduler plugin holds now (read from the engine when /metrics is scraped)."""
    return metric(url, "agentrt_kv_used_blocks")


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not check():
        assert time.monotonic() < deadline, f"not within {WAIT_SECONDS} s: {what}"
        time.sleep(0.05)


def _stream_until_first_token(client: httpx.Client, url: str, program: str, headers: dict[str, str],
                              then: Callable[[], None]) -> tuple[int, list[dict[str, Any]]]:
    """Stream a long call; once its first token arrives (it runs in vLLM), call `then()`; read the
    stream to its end. Returns the status and the events."""
    events: list[dict[str, Any]] = []
    with client.stream("POST", f"{url}/v1/chat/completions", json=_body("count", LONG_CALL, stream=True),
                       headers={**headers, "X-Agentrt-Program": program}) as response:
        for line in response.iter_lines():
            data = line.removeprefix("data:").strip()
            if not data or data == "[DONE]":
                continue
            events.append(json.loads(data))
            if len(events) == 1:
                then()
        return response.status_code, events


def test_a_call_past_its_timeout_is_aborted_in_vllm_with_504_and_its_kv_freed(server: tuple[str, object]) -> None:
    url, _ = server
    baseline = _used_blocks(url)
    held: list[float] = []
    with httpx.Client(timeout=WAIT_SECONDS) as client:
        by_default = client.post(f"{url}/v1/chat/completions", json=_body("slow", LONG_CALL))
        _wait_for(lambda: _used_blocks(url) == baseline, "the KV of the call past the server's timeout freed")
        status, events = _stream_until_first_token(client, url, "streamed", {"X-Agentrt-Timeout": "3"},
                                                   lambda: held.append(_used_blocks(url)))
        _wait_for(lambda: _used_blocks(url) == baseline, "the KV of the streamed call past its timeout freed")
        within = client.post(f"{url}/v1/chat/completions", json=_body("quick", 4), headers=LONG)
    assert by_default.status_code == 504, by_default.text
    error = by_default.json()["error"]
    assert (error["type"], error["code"]) == ("timeout_error", "request_timeout")
    assert f"timeout of {DEFAULT_TIMEOUT:g} s (the server's --request-timeout)" in error["message"]
    assert held[0] > baseline  # the measure sees a running call's KV
    assert status == 200 and "error" in events[-1], events[-3:]
    assert "timeout of 3 s (the X-Agentrt-Timeout header)" in str(events[-1]["error"])
    assert within.status_code == 200


def test_delete_aborts_a_programs_call_in_vllm_and_frees_its_kv(server: tuple[str, object]) -> None:
    url, _ = server
    baseline = _used_blocks(url)
    held: list[float] = []
    deleted: list[httpx.Response] = []

    def delete() -> None:
        held.append(_used_blocks(url))
        deleted.append(httpx.delete(f"{url}/v1/programs/doomed", timeout=WAIT_SECONDS))

    with httpx.Client(timeout=WAIT_SECONDS) as client:
        status, events = _stream_until_first_token(client, url, "doomed", LONG, delete)
        _wait_for(lambda: _used_blocks(url) == baseline, "the deleted program's KV freed")
    program = programs(url)["doomed"]
    assert held[0] > baseline and deleted[0].json()["deleted"] is True
    assert status == 200 and len(events) < LONG_CALL and "error" in events[-1], events[-3:]
    assert events[-1]["error"]["code"] == "program_ended"
    assert (program["num_calls"], program["num_in_flight"], program["end_reason"]) == (1, 0, "deleted")


def _engine_core(proc: subprocess.Popen[bytes]) -> psutil.Process:
    cores = [p for p in psutil.Process(proc.pid).children(recursive=True)
             if "EngineCore" in " ".join(p.cmdline()) + p.name()]
    assert len(cores) == 1, cores
    return cores[0]


def test_killing_the_engine_core_fails_the_call_in_flight_and_the_server_answers_503(
        server: tuple[str, subprocess.Popen[bytes]]) -> None:
    url, proc = server
    with httpx.Client(timeout=WAIT_SECONDS) as client:
        kept = client.post(f"{url}/v1/chat/completions", json=_body("finished first", 4),
                           headers={**LONG, "X-Agentrt-Program": "kept"})
        core = _engine_core(proc)
        status, events = _stream_until_first_token(client, url, "victim", LONG,
                                                   lambda: os.kill(core.pid, signal.SIGKILL))
        _wait_for(lambda: client.get(f"{url}/health").status_code == 503, "/health answering 503")
        health = client.get(f"{url}/health")
        later = client.post(f"{url}/v1/chat/completions", json=_body("after", 4), headers=LONG)
        listed = programs(url)
        scraped = client.get(f"{url}/metrics")
    assert kept.status_code == 200
    assert status == 200 and len(events) < LONG_CALL and "error" in events[-1], events[-3:]
    assert events[-1]["error"]["code"] == "engine_unavailable"
    assert health.json()["status"] == "engine_dead" and "EngineDeadError" in health.json()["reason"]
    assert later.status_code == 503 and later.json()["error"]["code"] == "engine_unavailable"
    assert listed["kept"]["num_calls"] == 1 and listed["victim"]["num_in_flight"] == 0
    assert scraped.status_code == 200 and "agentrt_programs_active" in scraped.text
    assert proc.poll() is None  # the server is still up
