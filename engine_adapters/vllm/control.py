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
    """Apply one control message to this process's plugin; returns its snapshot, or
    {"error": ...} when no agentrt scheduler runs here."""
    from agentrt.engine_adapters.vllm.plugin import current_scheduler

    plugin = current_scheduler()
    if plugin is None:
        return {"error": "no agentrt scheduler in this process: the worker runs outside the engine core "
                         "(set VLLM_ENABLE_V1_MULTIPROCESSING=0 on CPU; use one GPU per engine)"}
    kind, driver = ControlOp(op), plugin.driver
    if kind is ControlOp.RELEASE_PROGRAM:
        driver.release_program(str(args["program_id"]))
    elif kind is ControlOp.UPDATE_PIN:
        driver.update_pin(str(args["program_id"]), tuple(float(x) for x in args["gap_samples"]), time.monotonic())
    driver.expire_pins(time.monotonic())  # an idle engine runs no schedule(): pins expire here too
    answer = snapshot(plugin)
    if kind is ControlOp.TAKE_STEPS:
        answer["steps"] = [list(astuple(s)) for s in plugin.accounting.take_steps()]
    elif kind is ControlOp.DECISIONS:
        answer["decisions"] = [d.as_list() for d in decisions(plugin, int(args.get("start", 0)))]
    return answer


def snapshot(plugin: _AgentMixin) -> dict[str, Any]:
    """The plugin's statistics (`VLLMStats` fields), as plain values."""
    import torch  # the engine core's, where this runs

    stats, pool = plugin.driver.statistics(), plugin.pool
    return {"num_gpu_blocks": plugin.num_usable_blocks, "num_free_blocks": pool.get_num_free_blocks(),
            "num_pinned_blocks": plugin.pinned.num_pinned_blocks, "num_pins": len(plugin.pinned.program_to_blocks),
            "num_pins_created": stats.num_pins_created, "num_pin_hits": stats.num_pin_hits,
            "num_pin_expiries": stats.num_pins_expired, "num_pins_released": stats.num_pins_released,
            "num_preemptions": stats.num_preemptions, "num_promotions": stats.num_promotions,
            "num_steps": plugin.accounting.num_steps, "busy_time": plugin.accounting.busy_time,
            "num_held": len(plugin.held), "num_waiting": stats.num_waiting, "num_running": stats.num_running,
            "scheduler_cls": type(plugin).__name__, "num_threads": torch.get_num_threads()}


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
