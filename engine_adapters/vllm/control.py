"""Control messages from the adapter to the scheduler plugin, over vLLM's `collective_rpc`.

The adapter calls `AsyncLLM.collective_rpc("agentrt_control", args=(op, args))`. vLLM runs
utility calls in the engine-core process on its engine thread, between two steps, and also when
the engine is idle; with the in-process ("uni") executor the worker lives in that process too, so
`ControlExtension` (installed with vLLM's `worker_extension_cls` setting) reaches the plugin (or
stock vLLM's observed scheduler, observer.py) through `current_scheduler()` and changes its state
at once, without locks. The answer is the scheduler's statistics snapshot (plain values,
serialized by vLLM).

Alternatives considered: a unix socket served by a thread the plugin owns (works with every
executor, but writes must be queued for the engine thread, and an idle engine runs no
`schedule()` to apply them, so a cancelled program's pins would outlive it), and pickled
callables through `collective_rpc` (needs VLLM_ALLOW_INSECURE_SERIALIZATION=1).
"""

from __future__ import annotations

import enum
import time
from dataclasses import astuple, replace
from typing import TYPE_CHECKING, Any

from agentrt.runtime.scheduling.decisions import Decision

if TYPE_CHECKING:
    from agentrt.engine_adapters.vllm.plugin import _AgentMixin

METHOD = "agentrt_control"
EXTENSION = "agentrt.engine_adapters.vllm.control.ControlExtension"


class ControlOp(str, enum.Enum):
    STATS = "stats"  # answer the snapshot only
    RELEASE_PROGRAM = "release_program"  # args: program_id
    UPDATE_PIN = "update_pin"  # args: program_id, gap_samples
    TAKE_STEPS = "take_steps"  # the snapshot plus "steps": the recorded steps since the last take
    DECISIONS = "decisions"  # args: start; the snapshot plus "decisions": the decision log from `start` on


def handle(op: str, args: dict[str, Any]) -> dict[str, Any]:
    """Apply one control message to this process's scheduler (agentrt's plugin, or stock vLLM's
    observed scheduler, which takes only STATS, TAKE_STEPS and DECISIONS: an empty log); returns
    its snapshot, or {"error": ...} when neither runs here."""
    from agentrt.engine_adapters.vllm.observer import current_scheduler
    from agentrt.engine_adapters.vllm.plugin import _AgentMixin

    scheduler = current_scheduler()
    if scheduler is None:
        return {"error": "no agentrt scheduler in this process: the worker runs outside the engine core "
                         "(set VLLM_ENABLE_V1_MULTIPROCESSING=0 on CPU; use one GPU per engine)"}
    kind = ControlOp(op)
    plugin = scheduler if isinstance(scheduler, _AgentMixin) else None
    if plugin is not None:
        driver = plugin.driver
        if kind is ControlOp.RELEASE_PROGRAM:
            driver.release_program(str(args["program_id"]))
        elif kind is ControlOp.UPDATE_PIN:
            driver.update_pin(str(args["program_id"]), tuple(float(x) for x in args["gap_samples"]), time.monotonic())
        driver.expire_pins(time.monotonic())  # an idle engine runs no schedule(): pins expire here too
    answer = scheduler.statistics()
    if kind is ControlOp.TAKE_STEPS:
        answer["steps"] = [list(astuple(s)) for s in scheduler.accounting.take_steps()]
    elif kind is ControlOp.DECISIONS:
        answer["decisions"] = [d.as_list() for d in decisions(plugin, int(args.get("start", 0)))] if plugin else []
    return answer


def decisions(plugin: _AgentMixin, start: int) -> list[Decision]:
    """The decision log from its `start`-th record on, with agentrt's call ids."""
    log = plugin.program_scheduler.decisions
    names = plugin.call_names
    return [replace(d, call_id=names.get(d.call_id, d.call_id)) if d.call_id else d
            for d in (log.since(start) if log is not None else [])]


class ControlExtension:
    """Mixed into vLLM's worker class by `worker_extension_cls`: one RPC entry point."""

    def agentrt_control(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        return handle(op, args)
