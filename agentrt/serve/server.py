"""Run the simulator server: uvicorn on the wall clock, the simulated engine on the same loop.

The server's loop is uvloop's when it is installed (as `uvicorn --loop auto` chooses) and parses
HTTP with httptools when installed; the engine runs on that loop at `--time-scale 1`
(local_engine.py), else on a thread whose loop's clock runs `time_scale` times faster
(engine_thread.py, clock.py). The listening address is printed once the
socket is bound (`agentrt serve: listening on URL`), so a caller that asked for port 0 learns the
port the system chose.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import Callable
from typing import Any

import uvicorn

from agentrt.engine_adapters.base import Engine
from agentrt.serve.app import ServeOptions, SimServer
from agentrt.serve.engine_thread import EngineThread
from agentrt.serve.local_engine import LocalEngine
from agentrt.serve.responses import Responder

KEEP_ALIVE_S = 75  # as nginx's default
GEN0_THRESHOLD = 7000  # allocations between young collections (Python's default: 700)


def listening_url(server: uvicorn.Server) -> str:
    """The bound address of a started uvicorn server."""
    host, port = next(s for srv in server.servers for s in srv.sockets).getsockname()[:2]
    return f"http://{host}:{port}"


async def announce_when_started(server: uvicorn.Server, task: asyncio.Task[Any]) -> None:
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        print(f"agentrt serve: listening on {listening_url(server)}", flush=True)


def server_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop if installed, else asyncio's."""
    try:
        import uvloop
    except ImportError:  # optional speed-up
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def tune_collector() -> None:
    """Collect young objects every `GEN0_THRESHOLD` allocations instead of Python's 700.

    Each call allocates a few hundred objects that live until it ends; at the default threshold
    they were collected every few calls, promoted, and every ~minute at 1,000 programs a full
    collection walked the whole heap (~100,000 objects), pausing the server 40-190 ms: the slowest
    calls. Measured at 1,000 programs (benchmarks/README.md, "Serve overhead"): server-side p99 37
    -> 3.9 ms, likely no full collection during the run. `gc.freeze()` after start-up, tried, made
    every young collection take ~10-19 ms instead of ~0.2 ms (p50 210 ms; cause not found)."""
    gc.set_threshold(GEN0_THRESHOLD, *gc.get_threshold()[1:])


def run_sim_server(make_engine: Callable[[], Engine], options: ServeOptions, *, host: str, port: int,
                   time_scale: float = 1.0, responder: Responder | None = None, log_level: str = "warning",
                   own_thread: bool = False) -> None:
    """Serve until interrupted (SIGINT/SIGTERM: graceful shutdown). The engine runs on the
    server's loop at time scale 1, else (or with `own_thread`: an engine whose steps are real
    work, such as vLLM's, or Ray replicas) on a thread of its own, where `make_engine` runs."""
    loop = server_loop()
    asyncio.set_event_loop(loop)

    async def main() -> None:
        engine = (EngineThread(make_engine, time_scale) if own_thread or time_scale != 1.0
                  else LocalEngine(make_engine))
        app = SimServer(engine, options, responder, time_scale).app
        # agents leave their connection idle during each tool call: a keep-alive longer than their
        # clients' own (aiohttp 15 s, httpx 5 s) lets the client close first, so no request races
        # the server's close of an idle connection (seen as "server disconnected" by aiohttp)
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                                timeout_keep_alive=KEEP_ALIVE_S)
        server = uvicorn.Server(config)
        task = asyncio.ensure_future(server.serve())
        await announce_when_started(server, task)
        tune_collector()
        await task

    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
        sys.stdout.flush()
