"""Control messages from the adapter to the scheduler plugin, over vLLM's `collective_rpc`.

The adapter calls `AsyncLLM.collective_rpc("agentrt_control", args=(op, args))`. vLLM runs
utility calls in the engine-core process on its engine thread, between two steps, and also when
the engine is idle; with the in-process ("uni") executor the worker lives in that process too, so
`ControlExtension` (installed with vLLM's `worker_extension_cls` setting) reaches the plugin
through `current_scheduler()` and changes its state at once, without locks. The answer is the
plugin's statistics snapshot (plain values, serialized by vLLM).

Alternatives considered: a unix socket served by a thread the plugin owns (works with every
executor, but writes must be queued for the engine thread, and an idle engine runs no
`schedule()` to apply them, so a cancelled program's pins would outlive it), and pickled
callables through `collective_rpc` (needs VLLM_ALLOW_INSECURE_SERIALIZATION=1).
"""

from __future__ import annotations

import enum
from dataclasses import astuple
from typing import Any

METHOD = "agentrt_control"
EXTENSION = "agentrt.engine_adapters.vllm.control.ControlExtension"


class ControlOp(str, enum.Enum):
    STATS = "stats"  # answer the snapshot only
    RELEASE_PROGRAM = "release_program"  # args: program_id
    UPDATE_PIN = "update_pin"  # args: program_id, gap_samples
    TAKE_STEPS = "take_steps"  # the snapshot plus "steps": the recorded steps since the last take
    DECISIONS = "decisions"  # args: start; the snapshot plus "decisions": the decision log from `start` on


def handle(op: str, args: dict[str, Any]) -> dict[str, Any]:
    """Apply one control message to this process's plugin; returns its snapshot, or
    {"error": ...} when no agentrt scheduler runs here."""
    from agentrt.engine_adapters.vllm.plugin import current_scheduler

    scheduler = current_scheduler()
    if scheduler is None:
        return {"error": "no agentrt scheduler in this process: the worker runs outside the engine core "
                         "(set VLLM_ENABLE_V1_MULTIPROCESSING=0 on CPU; use one GPU per engine)"}
    kind = ControlOp(op)
    if kind is ControlOp.RELEASE_PROGRAM:
        scheduler.release_program(str(args["program_id"]))
    elif kind is ControlOp.UPDATE_PIN:
        scheduler.update_pin(str(args["program_id"]), tuple(float(x) for x in args["gap_samples"]))
    answer = scheduler.snapshot()
    if kind is ControlOp.TAKE_STEPS:
        answer["steps"] = [list(astuple(s)) for s in scheduler.take_steps()]
    elif kind is ControlOp.DECISIONS:
        answer["decisions"] = [d.as_list() for d in scheduler.decisions_since(int(args.get("start", 0)))]
    return answer


class ControlExtension:
    """Mixed into vLLM's worker class by `worker_extension_cls`: one RPC entry point."""

    def agentrt_control(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        return handle(op, args)
