"""`agentrt serve --engine vllm`: vLLM's own OpenAI server, with agentrt's scheduler and program layer.

The server is vLLM's (`vllm.entrypoints.launchers`: chat templates, tool-call and reasoning
parsers, streaming, logprobs, its errors); agentrt adds its scheduler plugin through vLLM's
`--scheduler-cls` (with the policy in `--additional-config` and the control channel in
`--worker-extension-cls`, as `VLLMEngine` does) and its program layer through `--middleware`
(vllm_middleware.py). Arguments after `--` go to vLLM's parser as they are
(e.g. `-- --enable-auto-tool-choice --tool-call-parser hermes`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
from typing import Any

from agentrt.engine_adapters.vllm.config import VLLMOptions
from agentrt.engine_adapters.vllm.engine import on_cpu
from agentrt.engine_adapters.vllm.records import META_KEY
from agentrt.exceptions import ConfigError, EngineError
from agentrt.runtime.scheduling.policies import policy_config
from agentrt.serve.vllm_middleware import TIMEOUT_ENV

MIDDLEWARE = "agentrt.serve.vllm_middleware.ProgramMiddleware"
_PLUGIN = "agentrt.engine_adapters.vllm.plugin"


def vllm_argv(args: argparse.Namespace) -> list[str]:
    """vLLM's server arguments for an `agentrt serve --engine vllm` command line."""
    if not args.model:
        raise ConfigError("--engine vllm needs --model DIR (a Hugging Face model folder; "
                          "`agentrt model tiny DIR` writes a tiny test model)")
    cpu = on_cpu()
    options = VLLMOptions(model=args.model, num_gpu_blocks_override=args.num_gpu_blocks)
    policy = policy_config(args.policy)
    kwargs = options.engine_kwargs(
        on_cpu=cpu, scheduler_cls=f"{_PLUGIN}.{'AgentScheduler' if cpu else 'AgentAsyncScheduler'}",
        additional={META_KEY: {"policy": policy.model_dump(mode="json"), "record_steps": 0}})
    argv = [str(kwargs.pop("model")), "--host", args.host, "--port", str(args.port), "--middleware", MIDDLEWARE]
    for name in args.served_model_name or ():
        argv += ["--served-model-name", name]
    for key, value in kwargs.items():
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            argv += [flag] if value else [f"--no-{key.replace('_', '-')}"]
        elif isinstance(value, dict):
            argv += [flag, json.dumps(value)]
        else:
            argv += [flag, str(value)]
    return [*argv, *getattr(args, "vllm_args", [])]


def run_vllm_server(args: argparse.Namespace) -> int:
    """Serve until interrupted. Raises EngineError when vLLM is not installed."""
    timeout = args.request_timeout
    if timeout is not None and not 0 < timeout < math.inf:
        raise ConfigError(f"--request-timeout {timeout}: give the calls' limit in wall seconds, a number > 0")
    argv = vllm_argv(args)
    if timeout is not None:
        os.environ[TIMEOUT_ENV] = repr(timeout)  # read by the middleware vLLM builds
    # an engine that dies leaves the server up: /health and calls answer 503, /v1/programs is kept
    os.environ.setdefault("VLLM_KEEP_ALIVE_ON_ENGINE_DEATH", "1")
    if on_cpu():  # the worker then lives in the engine-core process, where control messages run
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        # one OpenMP thread on few CPUs, as VLLMEngine (this process only serves vLLM)
        os.environ.update(VLLMOptions(model=args.model).engine_environment(os.environ, len(os.sched_getaffinity(0))))
    try:
        import uvloop
        from vllm.entrypoints.launchers.api_server.entry import run_server
        from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args
        from vllm.utils.argparse_utils import FlexibleArgumentParser
    except ImportError as exc:
        raise EngineError(f"vLLM is not installed ({exc}); install the CPU engine with `python -m "
                          "agentrt.engine_adapters.vllm.install` or the CUDA engine with `pip install "
                          "'agentrt[vllm]'`") from exc
    parser = make_arg_parser(FlexibleArgumentParser(prog="agentrt serve --engine vllm"))
    vllm_args: Any = parser.parse_args(["--model", *argv])
    validate_parsed_serve_args(vllm_args)
    uvloop.run(run_server(vllm_args))
    return 0
