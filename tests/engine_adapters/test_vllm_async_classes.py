"""On a GPU vLLM schedules asynchronously, and the adapter must install the scheduler classes
built on vLLM's AsyncScheduler (AgentAsyncScheduler, StockAsyncScheduler). The CPU engine never
does, so what a GPU would get is checked here without one: the class named in the engine's
arguments for a CUDA-like setting, and that each class puts the recording (and the plugin's
decisions) ahead of vLLM's methods."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrt.engine_adapters.vllm.config import VLLMOptions

pytestmark = [pytest.mark.vllm,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:torch", "ignore::FutureWarning:vllm",
                                         "ignore::DeprecationWarning:vllm", "ignore::FutureWarning:torch")]


@pytest.mark.parametrize(("stock", "on_cpu", "engine_args", "name"), [
    (False, False, {}, "AgentAsyncScheduler"),
    (True, False, {}, "StockAsyncScheduler"),
    (False, False, {"async_scheduling": True}, "AgentAsyncScheduler"),
    (True, False, {"async_scheduling": False}, "StockScheduler"),
    (False, False, {"async_scheduling": False}, "AgentScheduler"),
    (False, True, {}, "AgentScheduler"),
    (True, True, {}, "StockScheduler"),
])
def test_the_engine_arguments_name_the_async_classes_where_vllm_schedules_asynchronously(
        tiny_model: Path, stock: bool, on_cpu: bool, engine_args: dict[str, bool], name: str) -> None:
    from vllm.utils.import_utils import resolve_obj_by_qualname
    from vllm.v1.core.sched.async_scheduler import AsyncScheduler

    options = VLLMOptions(model=str(tiny_model), stock=stock, engine_args=engine_args)
    kwargs = options.engine_kwargs(on_cpu=on_cpu, scheduler_cls=options.scheduler_cls(on_cpu=on_cpu), additional={})
    cls = resolve_obj_by_qualname(kwargs["scheduler_cls"])  # as vLLM loads it
    assert cls.__name__ == name
    assert issubclass(cls, AsyncScheduler) == name.endswith("AsyncScheduler")
    assert kwargs["scheduling_policy"] == ("fcfs" if stock else "priority")


def test_both_async_classes_run_the_mixins_methods_ahead_of_vllms() -> None:
    from vllm.v1.core.sched.async_scheduler import AsyncScheduler
    from vllm.v1.core.sched.scheduler import Scheduler

    from agentrt.engine_adapters.vllm.observer import StockAsyncScheduler, _ObservedMixin
    from agentrt.engine_adapters.vllm.plugin import AgentAsyncScheduler, _AgentMixin

    for cls, mixins in ((StockAsyncScheduler, [_ObservedMixin]), (AgentAsyncScheduler, [_AgentMixin, _ObservedMixin])):
        mro = cls.__mro__
        assert [mro.index(m) for m in mixins] == sorted(mro.index(m) for m in mixins)
        assert max(mro.index(m) for m in mixins) < mro.index(AsyncScheduler) < mro.index(Scheduler)
        for method in ("schedule", "update_from_output", "add_request", "_free_request", "statistics"):
            assert next(c for c in mro if method in vars(c)) in mixins, (cls.__name__, method)
        assert cls._update_after_schedule is AsyncScheduler._update_after_schedule  # the placeholders: vLLM's own
