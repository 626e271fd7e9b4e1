"""Stock vLLM observed (`StockScheduler`, observer.py): it decides what vLLM's own Scheduler
decides, and counts what the plugin counts, recomputation after a preemption included.

The scheduler tests drive vLLM's scheduler directly, as vLLM's own tests do: scripted arrivals,
a model-runner output per step (one sampled token per request that finished its prefill), no
model and no clock (the records' times are not checked). The engine test runs the tiny model.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentrt.engine_adapters.vllm.records import META_KEY, CallRecord

pytestmark = [pytest.mark.vllm,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:torch", "ignore::FutureWarning:vllm",
                                         "ignore::DeprecationWarning:vllm", "ignore::FutureWarning:torch")]
BLOCK_SIZE = 32
SAMPLED = 7  # the token every step samples


def make_config(tiny_model: Path, scheduling_policy: str) -> Any:
    from vllm.engine.arg_utils import EngineArgs

    config = EngineArgs(model=str(tiny_model), block_size=BLOCK_SIZE, enable_prefix_caching=True, max_model_len=512,
                        max_num_seqs=8, max_num_batched_tokens=2048, dtype="float32", enforce_eager=True,
                        skip_tokenizer_init=True, scheduling_policy=scheduling_policy).create_engine_config()
    assert not config.scheduler_config.async_scheduling
    return config


@pytest.fixture(scope="module")
def engine_config(tiny_model: Path) -> Any:
    return make_config(tiny_model, "fcfs")


def make_scheduler(cls: type, config: Any, num_blocks: int, policy: str = "fcfs") -> Any:
    """vLLM's scheduler of class `cls` over a KV cache of `num_blocks` blocks (block 0: vLLM's null
    block); `policy`: agentrt's, where `cls` is the plugin."""
    import torch
    from vllm.v1.kv_cache_interface import FullAttentionSpec, KVCacheConfig, KVCacheGroupSpec
    from vllm.v1.structured_output import StructuredOutputManager

    config.cache_config.num_gpu_blocks = num_blocks
    config.additional_config = {META_KEY: {"record_steps": 1000, "policy": {"name": policy}}}
    spec = FullAttentionSpec(block_size=BLOCK_SIZE, num_kv_heads=2, head_size=64, dtype=torch.float32)
    kv = KVCacheConfig(num_blocks=num_blocks, kv_cache_tensors=[], kv_cache_groups=[KVCacheGroupSpec(["l0"], spec)])
    return cls(vllm_config=config, kv_cache_config=kv, structured_output_manager=StructuredOutputManager(config),
               block_size=BLOCK_SIZE)


def make_request(request_id: str, prompt: list[int], max_tokens: int) -> Any:
    from vllm.sampling_params import SamplingParams
    from vllm.utils.hashing import get_hash_fn_by_name
    from vllm.v1.core.kv_cache_utils import get_request_block_hasher, init_none_hash
    from vllm.v1.request import Request

    hash_fn = get_hash_fn_by_name("sha256")
    init_none_hash(hash_fn)
    return Request(request_id, prompt, SamplingParams(max_tokens=max_tokens, ignore_eos=True), None,
                   arrival_time=0.0, block_hasher=get_request_block_hasher(BLOCK_SIZE, hash_fn))


Arrivals = dict[int, list[tuple[str, list[int], int]]]  # step -> (request id, prompt, max_tokens) added before it


def steps(scheduler: Any, arrivals: Arrivals, limit: int = 500,
          overlap: bool = False) -> Iterator[tuple[Any, dict[str, CallRecord]]]:
    """Run the scheduler to the end of the script: each step's SchedulerOutput and the records of
    the requests that finished as its result came back (from their outputs' `kv_transfer_params`).
    `overlap`: as vLLM runs its AsyncScheduler (the engine core's batch queue of two): step n + 1
    is scheduled before step n's result is given back; a step that schedules nothing drains it."""
    from vllm.v1.outputs import ModelRunnerOutput

    pending: deque[tuple[Any, Any]] = deque()
    for n in range(limit):
        for request_id, prompt, max_tokens in arrivals.get(n, []):
            scheduler.add_request(make_request(request_id, prompt, max_tokens))
        if n > max(arrivals) and not scheduler.requests and not pending:
            return
        out = scheduler.schedule()
        ids = list(out.num_scheduled_tokens)
        sampled = [[] if scheduler.requests[r].is_prefill_chunk else [SAMPLED] for r in ids]
        pending.append((out, ModelRunnerOutput(req_ids=ids, req_id_to_index={r: i for i, r in enumerate(ids)},
                                               sampled_token_ids=sampled)))
        finished: dict[str, CallRecord] = {}
        while len(pending) > overlap or (pending and not out.total_num_scheduled_tokens):
            for outputs in scheduler.update_from_output(*pending.popleft()).values():
                for o in outputs.outputs:
                    record = CallRecord.from_output(o.kv_transfer_params)
                    if o.finish_reason is not None and record is not None:
                        finished[o.request_id] = record
        yield out, finished
    raise AssertionError(f"the script did not end in {limit} steps")


def decisions(out: Any) -> tuple[Any, ...]:
    """What a step decided: tokens per request, preemptions, admissions (with their prefix-cache
    hits), resumptions, finished requests."""
    return (dict(out.num_scheduled_tokens), sorted(out.preempted_req_ids or ()),
            sorted((r.req_id, r.num_computed_tokens) for r in out.scheduled_new_reqs),
            sorted(out.scheduled_cached_reqs.resumed_req_ids), sorted(out.finished_req_ids))


def prompt(first: int, n: int) -> list[int]:
    return [(first + i) % 400 + 20 for i in range(n)]


# Twelve requests on 12 usable blocks: shared prefixes (requests 0-5 share 64 tokens), arrivals
# over 30 steps, contexts that outgrow the cache (preemptions), chunked prefills (a 600-token prompt
# in a 2048-token budget is not chunked; the budget binds when several arrive together).
SCRIPT: Arrivals = {
    0: [(f"r{i}", prompt(0, 64) + prompt(1000 + 37 * i, 40 + 24 * i), 30 + 7 * i) for i in range(4)],
    3: [("r4", prompt(0, 64) + prompt(5000, 150), 60), ("r5", prompt(0, 96), 20)],
    10: [(f"s{i}", prompt(2000 + 91 * i, 100 + 50 * i), 25 + 10 * i) for i in range(3)],
    30: [("t0", prompt(0, 64) + prompt(1000, 40), 50), ("t1", prompt(7000, 300), 5), ("t2", prompt(8000, 33), 80)],
}


def test_stock_scheduler_decides_what_vllms_scheduler_decides(engine_config: Any) -> None:
    from vllm.v1.core.sched.scheduler import Scheduler

    from agentrt.engine_adapters.vllm.observer import StockScheduler

    runs = {}
    for cls in (Scheduler, StockScheduler):
        scheduler = make_scheduler(cls, engine_config, num_blocks=13)
        runs[cls] = [(decisions(out), scheduler.kv_cache_manager.block_pool.get_num_free_blocks(),
                      {r: (rq.num_computed_tokens, rq.num_preemptions) for r, rq in scheduler.requests.items()})
                     for out, _ in steps(scheduler, SCRIPT)]
    assert runs[StockScheduler] == runs[Scheduler]
    plain = [d for d, _, _ in runs[Scheduler]]
    assert sum(len(d[1]) for d in plain) >= 3  # the script exercises vLLM's preemptions ...
    assert any(hit > 0 for d in plain for _, hit in d[2])  # ... and its prefix cache
    assert len(plain) > 100


def test_the_plugin_under_fcfs_decides_what_stock_vllm_decides(tiny_model: Path, engine_config: Any) -> None:
    """The same script through agentrt's plugin under fcfs (vLLM's priority queue, ranked by the
    plugin; its own preemption rule, which fcfs never uses): the same steps as vLLM's own
    scheduler, its 4 preemptions included. Where stock and plugin-fcfs runs count differently on
    the benchmark, it is the runs' timing, not a decision (docs/vllm.md, "Session 6")."""
    from vllm.v1.core.sched.scheduler import Scheduler

    from agentrt.engine_adapters.vllm.plugin import AgentScheduler

    stock = [decisions(out) for out, _ in steps(make_scheduler(Scheduler, engine_config, num_blocks=13), SCRIPT)]
    plugin = make_scheduler(AgentScheduler, make_config(tiny_model, "priority"), num_blocks=13, policy="fcfs")
    assert [decisions(out) for out, _ in steps(plugin, SCRIPT)] == stock
    assert sum(len(d[1]) for d in stock) == 4


def test_under_async_scheduling_the_observed_classes_decide_what_vllms_async_scheduler_decides(
        tiny_model: Path, engine_config: Any) -> None:
    """What a GPU runs (vLLM's async scheduling: AgentAsyncScheduler, StockAsyncScheduler),
    driven here as vLLM's engine core drives it (step n + 1 scheduled before step n's result)."""
    from vllm.v1.core.sched.async_scheduler import AsyncScheduler

    from agentrt.engine_adapters.vllm.observer import StockAsyncScheduler
    from agentrt.engine_adapters.vllm.plugin import AgentAsyncScheduler

    plain = [decisions(out) for out, _ in steps(make_scheduler(AsyncScheduler, engine_config, 13), SCRIPT, overlap=True)]
    stock = make_scheduler(StockAsyncScheduler, engine_config, 13)
    plugin = make_scheduler(AgentAsyncScheduler, make_config(tiny_model, "priority"), 13, policy="fcfs")
    assert [decisions(out) for out, _ in steps(stock, SCRIPT, overlap=True)] == plain
    assert [decisions(out) for out, _ in steps(plugin, SCRIPT, overlap=True)] == plain
    assert sum(len(d[1]) for d in plain) >= 3 and len(plain) > 100


def counted_from_outputs(outs: list[Any], prompts: dict[str, int]) -> dict[str, tuple[int, int, int, int]]:
    """Per request (prompt tokens computed, of them recomputed, preemptions, most tokens computed),
    from the scheduler outputs alone, as the model runner sees them: each scheduled request's
    computed tokens before the step and its tokens in the step (a step of one token past the
    prompt is a decode)."""
    counts: dict[str, list[int]] = {r: [0, 0, 0, 0] for r in prompts}
    for out in outs:
        cached = out.scheduled_cached_reqs
        before = {r.req_id: r.num_computed_tokens for r in out.scheduled_new_reqs}
        before.update(zip(cached.req_ids, cached.num_computed_tokens, strict=True))
        for request_id in out.preempted_req_ids or ():
            counts[request_id][2] += 1
        for request_id, n in out.num_scheduled_tokens.items():
            c, b = counts[request_id], before[request_id]
            if not (n == 1 and b >= prompts[request_id]):
                c[0] += n
                c[1] += max(min(b + n, c[3]) - b, 0)
            c[3] = max(c[3], b + n)
    return {r: (c[0], c[1], c[2], c[3]) for r, c in counts.items()}


@pytest.mark.parametrize("overlap", [False, True], ids=["sync", "async"])
def test_each_calls_record_counts_what_the_steps_computed_for_it(engine_config: Any, overlap: bool) -> None:
    """With async scheduling a step's result comes back after the next step is scheduled, when a
    request's computed tokens count that step too (or are 0 if it preempted the request): the
    records must count each step as scheduled. Before the fix the async run counted t2's 1-token
    prefill (after a 32-token prefix hit) as a decode, and r4's, s2's and t0's prefills one high."""
    from vllm.v1.core.sched.async_scheduler import AsyncScheduler
    from vllm.v1.core.sched.scheduler import Scheduler

    from agentrt.engine_adapters.vllm.observer import StockAsyncScheduler, StockScheduler

    scheduler = make_scheduler(StockAsyncScheduler if overlap else StockScheduler, engine_config, 13)
    assert isinstance(scheduler, AsyncScheduler) == overlap and isinstance(scheduler, Scheduler)
    outs, records = [], {}
    for out, finished in steps(scheduler, SCRIPT, overlap=overlap):
        outs.append(out)
        records.update(finished)
    prompts = {r: len(p) for arrived in SCRIPT.values() for r, p, _ in arrived}
    got = {r: (x.num_prefill_tokens, x.num_recomputed_tokens, x.num_preemptions, x.max_computed)
           for r, x in records.items()}
    assert got == counted_from_outputs(outs, prompts)
    assert got["t2"][0] == 1 and sum(c[1] > 0 for c in got.values()) >= 3
    recorded = scheduler.accounting.take_steps()
    assert sum(s.num_prefill_tokens for s in recorded) == sum(c[0] for c in got.values())


def test_a_preempted_requests_recomputation_is_counted_as_worked_out_by_hand(engine_config: Any) -> None:
    """4 usable blocks of 32 tokens; a and b (64-token prompts, 40 output tokens each) arrive together.
    Step 1 prefills both (4 blocks, 128 tokens) and samples one token each. Step 2: a's 65th token
    needs a 3rd block, none is free, vLLM preempts the last running request, b; b's two blocks stay
    cached, the last one first in line for eviction, and a takes it. At its 97th token (step 34) a
    takes b's other block: nothing of b stays cached. a ends at step 40 (39 decode steps after its
    prefill); step 41 re-prefills b's 65 tokens (64 of them computed before, none cached), and b's
    38 remaining tokens take steps 42-79."""
    from agentrt.engine_adapters.vllm.observer import StockScheduler

    scheduler = make_scheduler(StockScheduler, engine_config, num_blocks=5)
    script = {0: [("a", prompt(0, 64), 40), ("b", prompt(500, 64), 40)]}
    outs, records = [], {}
    for out, finished in steps(scheduler, script):
        outs.append(out)
        records.update(finished)
    assert [dict(o.num_scheduled_tokens) for o in outs[:2]] == [{"a": 64, "b": 64}, {"a": 1}]
    assert [sorted(o.preempted_req_ids or ()) for o in outs[:3]] == [[], ["b"], []]
    assert dict(outs[40].num_scheduled_tokens) == {"b": 65}
    a, b = records["a"], records["b"]
    assert (a.num_prefill_tokens, a.num_recomputed_tokens, a.num_preemptions, a.max_computed) == (64, 0, 0, 103)
    assert (b.num_prefill_tokens, b.num_recomputed_tokens, b.num_preemptions, b.max_computed) == (129, 64, 1, 103)
    assert a.first_scheduled <= b.first_scheduled and b.queue_wait > a.queue_wait
    recorded = scheduler.accounting.take_steps()
    assert len(recorded) == 79 == scheduler.accounting.num_steps
    assert [(s.num_prefill_tokens, s.num_decode_tokens) for s in recorded if s.num_prefill_tokens] == [(128, 0), (65, 0)]
    assert sum(s.num_decode_tokens for s in recorded) == 39 + 38
    stats = scheduler.statistics()
    assert (stats["num_preemptions"], stats["num_steps"], stats["scheduler_cls"]) == (1, 79, "StockScheduler")


def test_stock_engine_returns_the_plugins_records_and_steps(tiny_model: Path) -> None:
    """Through the engine (the tiny model): one call of a 100-token prompt and 8 output tokens is
    one prefill step of 100 tokens and 7 decode steps, counted by the stock scheduler's record."""
    import agentrt
    from agentrt.engine_adapters.base import GenerationRequest
    from agentrt.engine_adapters.vllm import VLLMEngine, on_cpu
    from agentrt.programs.tokens import Tokens

    got: dict[str, Any] = {}

    async def main() -> None:
        engine = VLLMEngine(str(tiny_model), stock=True, num_gpu_blocks_override=64, block_size=32,
                            max_model_len=1024, dtype="float32", record_steps=100)
        async with agentrt.Runtime(engine=engine, policy="fcfs"):
            request = GenerationRequest(call_id="p.1", program_id="p", prompt=Tokens.of(range(40, 140)),
                                        max_tokens=8, arrival=0.0, ignore_eos=True)
            got["result"] = await engine.generate(request)
            got["stats"] = await engine.query_statistics()
        got["steps"] = engine.measured_steps

    agentrt.run(main, virtual_time=False)
    result, stats = got["result"], got["stats"]
    assert (result.num_prompt_tokens, result.num_prefill_tokens, result.recomputed_tokens, result.preemptions,
            result.num_output_tokens) == (100, 100, 0, 0, 8)
    assert 0 < result.service_time and result.first_scheduled <= result.finish
    name = "StockScheduler" if on_cpu() else "StockAsyncScheduler"  # vLLM's async scheduling (GPU)
    assert (stats.scheduler_cls, stats.num_steps, stats.num_preemptions, stats.stock) == (name, 8, 0, True)
    assert [(s.num_prefill_tokens, s.num_decode_tokens) for s in got["steps"]] == [(100, 0)] + [(0, 1)] * 7
