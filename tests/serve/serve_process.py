"""Start `agentrt serve` in a subprocess on a free loopback port, for tests with real clients.

The server prints its URL once bound; the test waits for that line (bounded), and the server is
stopped (SIGTERM, then SIGKILL) when the block ends. `timeout` bounds its life in any case.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).parent
STARTUP_SECONDS = 120
VLLM_STARTUP_SECONDS = 600
MAX_LIFE_SECONDS = 900


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_vllm_server(*args: str) -> Iterator[str]:
    """`agentrt serve --engine vllm --port P *args` (vLLM's server prints no port line): waits for
    /health to answer (bounded) and yields the base URL."""
    with vllm_server_process(*args) as (url, _):
        yield url


@contextmanager
def vllm_server_process(*args: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`running_vllm_server`, yielding the process too (the `timeout` wrapping the server)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = ["timeout", str(MAX_LIFE_SECONDS), sys.executable, "-m", "agentrt", "serve", "--engine", "vllm",
           "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=HERE.parent.parent)
    try:
        deadline = time.monotonic() + VLLM_STARTUP_SECONDS
        while not _healthy(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"agentrt serve --engine vllm did not start (exit {proc.poll()})")
            time.sleep(0.5)
        yield url, proc
    finally:
        _stop(proc, grace=60)


def _stop(proc: subprocess.Popen[Any], *, grace: float) -> None:
    """SIGTERM, then SIGKILL if the server has not exited within `grace` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def running_server(*args: str, startup_seconds: float = STARTUP_SECONDS, max_memory: int | None = None) -> Iterator[str]:
    """`agentrt serve --port 0 *args`; yields its base URL (without /v1). `max_memory` (bytes)
    caps the server's address space, so a request that makes it allocate without bound fails
    with MemoryError there instead of exhausting the machine."""
    cmd = ["timeout", str(MAX_LIFE_SECONDS), sys.executable, "-m", "agentrt", "serve", "--port", "0", *args]
    def cap_memory() -> None:
        if max_memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=HERE.parent.parent, env=os.environ | {"PYTHONUNBUFFERED": "1"}, preexec_fn=cap_memory)
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "listening on" in line:
                found.set()
        found.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        if not found.wait(startup_seconds) or not any("listening on" in x for x in lines):
            raise RuntimeError("agentrt serve did not start:\n" + "".join(lines))
        url = next(x for x in lines if "listening on" in x).split("listening on ")[1].strip()
        yield url
    finally:
        _stop(proc, grace=30)
        reader.join(5)
        if proc.stdout is not None:
            proc.stdout.close()


def programs(url: str, state: str = "all") -> dict[str, dict[str, object]]:
    data = httpx.get(f"{url}/v1/programs", params={"state": state}).json()["data"]
    return {p["id"]: p for p in data}


def metric(url: str, name: str) -> float:
    """The value of an unlabelled or fully named sample in /metrics (0 if absent)."""
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0
