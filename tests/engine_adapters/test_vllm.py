"""agentrt's scheduler inside real vLLM (CPU): programs end to end, policy order, KV pins, pin
expiry, cancellation and over-long prompts.

vLLM takes ~25 s to load even the tiny model, and AsyncLLM binds to one event loop, so every
scenario runs on ONE engine inside one `agentrt.run(...)` in a module-scoped fixture, and each
test function asserts on its scenario's observations. The engine is constrained on purpose:
64 KV blocks of 32 tokens and one request per step, so programs compete.

Two rules keep the result independent of the machine's speed and of the other scenarios:
- every wait is on an observation (`until`: the engine reports the call in flight, its tokens
  emitted, its calls waiting or held, a pin expired), never a sleep sized to a guess of how fast
  the engine is; a wait that observes nothing for WAIT_LIMIT_S fails its scenario as a hang;
- a scenario's exception (whatever its kind: a timeout, an assertion, pytest's `Failed`) is
  recorded as its result and raised by its own test only; the next scenario still runs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from trio.testing import MockClock

import agentrt
from agentrt.engine_adapters.base import GenerationRequest, GenerationResult, SchedHints
from agentrt.engine_adapters.vllm import VLLMEngine, VLLMStats, on_cpu
from agentrt.runtime.scheduling.scheduler import ProgramScheduler

# vLLM's and torch's imports warn about their own internals, and vLLM leaves a ZMQ context for the
# garbage collector at shutdown; anything else stays an error
pytestmark = [pytest.mark.vllm, pytest.mark.timeout(1200),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:torch", "ignore::FutureWarning:vllm",
                                         "ignore::DeprecationWarning:vllm", "ignore::FutureWarning:torch",
                                         "ignore:Exception ignored in. <function Context.__del__"
                                         ":pytest.PytestUnraisableExceptionWarning")]
# Residency gating at 90% of the 63 usable blocks x 32 tokens: only `residency_gating` fills it.
# The policy's two wall-clock rules are kept out of what the scenarios check: anti-starvation
# (beta: a call waiting beta x its program's service jumps the queue, so on a slow machine the
# order would depend on the machine's speed) and the idle cost of a pin (at 0, a pin lasts its
# gap sample however long the engine takes to serve the calls in between).
# atlas_always: the contention scenario's queue is on the one batch slot, not on memory, where agentrt
# would otherwise queue by arrival, i.e. as vLLM does without the plugin
POLICY = agentrt.PolicyConfig(name="agentrt", residency_fraction=0.9, beta=1e9, pin_idle_cost=0.0,
                              atlas_always=True)
POLL_S = 0.02  # how often `until` looks again
WAIT_LIMIT_S = 120.0  # an observation this late means a hang, not a slow machine
SCENARIO_LIMIT_S = 240.0
Scenario = Callable[[agentrt.Runtime, VLLMEngine], Awaitable[dict[str, Any]]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


async def run_scenarios(scenarios: dict[str, Scenario], rt: Any, engine: Any) -> dict[str, Any]:
    """Run each scenario in turn; name -> its observations, or the exception it ended with."""
    results: dict[str, Any] = {}
    for name, fn in scenarios.items():
        try:
            with anyio.fail_after(SCENARIO_LIMIT_S):
                results[name] = await fn(rt, engine)
        except (KeyboardInterrupt, SystemExit, anyio.get_cancelled_exc_class()):
            raise
        except BaseException as exc:  # pytest's outcomes are BaseExceptions: still this scenario's only
            results[name] = exc
    return results


@pytest.fixture(scope="module")
def seen(tiny_model: Path) -> dict[str, Any]:
    """Run every scenario on one engine; scenario name -> its observations (or its exception)."""
    results: dict[str, Any] = {}

    async def main() -> None:
        engine = VLLMEngine(str(tiny_model), num_gpu_blocks_override=64, block_size=32, max_model_len=1024,
                            max_num_seqs=1, dtype="float32")
        async with agentrt.Runtime(engine=engine, policy=POLICY) as rt:
            results.update(await run_scenarios(SCENARIOS, rt, engine))

    agentrt.run(main, virtual_time=False)
    return results


def observed(seen: dict[str, Any], name: str) -> dict[str, Any]:
    result = seen[name]
    if isinstance(result, BaseException):
        raise result
    return result


async def until(check: Callable[[], bool], what: str) -> None:
    """Return once `check()` holds. Raises TimeoutError naming `what` after WAIT_LIMIT_S."""
    try:
        with anyio.fail_after(WAIT_LIMIT_S):
            while not check():
                await anyio.sleep(POLL_S)
    except TimeoutError as exc:
        raise TimeoutError(f"never observed: {what}") from exc


async def until_engine(engine: VLLMEngine, check: Callable[[VLLMStats], bool], what: str) -> VLLMStats:
    """The first statistics the plugin answers with that satisfy `check` (see `until`)."""
    stats = await engine.query_statistics()
    try:
        with anyio.fail_after(WAIT_LIMIT_S):
            while not check(stats):
                await anyio.sleep(POLL_S)
                stats = await engine.query_statistics()
    except TimeoutError as exc:
        raise TimeoutError(f"never observed: {what} (last: {stats})") from exc
    return stats


def emitted(engine: VLLMEngine, call_ids: Any) -> int:
    """Output tokens the engine has returned so far for those of `call_ids` in flight."""
    in_flight = engine.in_flight()
    return sum(in_flight.get(call_id, 0) for call_id in call_ids)


def knows(num_calls: int) -> Callable[[VLLMStats], bool]:
    """Does the plugin know (waiting, held or running) at least `num_calls` calls?"""
    return lambda stats: stats.num_waiting + stats.num_running >= num_calls


async def outcome(handle: agentrt.ProgramHandle[Any]) -> Any:
    """The program's result, or the exception it ended with."""
    try:
        return await handle
    except Exception as exc:
        return exc


async def call(engine: VLLMEngine, program_id: str, prompt: Any, max_tokens: int, *, n: int = 1,
               hints: SchedHints | None = None) -> GenerationResult:
    request = GenerationRequest(call_id=f"{program_id}.{n}", program_id=program_id, prompt=prompt,
                                max_tokens=max_tokens, arrival=anyio.current_time(), ignore_eos=True,
                                hints=hints or SchedHints())
    return await engine.generate(request)


async def noise(engine: VLLMEngine, tag: str, count: int = 8) -> None:
    """Unrelated one-call programs that cycle the whole KV cache (8 x 13 blocks > 63)."""
    for i in range(count):
        await call(engine, f"noise-{tag}-{i}", agentrt.Tokens.synthetic(400, key=f"noise/{tag}/{i}"), 4)
        await engine.release_program(f"noise-{tag}-{i}")


# -- the harness itself ----------------------------------------------------------------------------
def test_a_failing_scenario_fails_only_its_own_test() -> None:
    async def fails(rt: Any, engine: Any) -> dict[str, Any]:
        pytest.fail("this scenario's assertion")  # a BaseException, not an Exception

    async def hangs(rt: Any, engine: Any) -> dict[str, Any]:
        await until(lambda: False, "something that never happens")
        return {}

    async def runs(rt: Any, engine: Any) -> dict[str, Any]:
        return {"ran": True}

    async def main(scenarios: dict[str, Scenario]) -> dict[str, Any]:
        return await run_scenarios(scenarios, None, None)

    failing: dict[str, Scenario] = {"fails": fails, "runs": runs}
    hanging: dict[str, Scenario] = {"hangs": hangs}
    got = anyio.run(main, failing)
    assert isinstance(got["fails"], pytest.fail.Exception) and got["runs"] == {"ran": True}
    with pytest.raises(pytest.fail.Exception, match="this scenario's assertion"):
        observed(got, "fails")
    assert observed(got, "runs") == {"ran": True}
    hung = anyio.run(main, hanging, backend="trio",
                     backend_options={"clock": MockClock(autojump_threshold=0)})
    assert isinstance(hung["hangs"], TimeoutError) and "never observed: something" in str(hung["hangs"])


# -- programs end to end -----------------------------------------------------------------------
@agentrt.tool
async def vllm_test_wait(seconds: float) -> str:
    await anyio.sleep(seconds)
    return "done"


@agentrt.program
async def chat_program(topic: str) -> tuple[str, int]:
    first = await agentrt.llm(f"the agent plans: {topic}", max_tokens=6)
    await vllm_test_wait(0.3)
    second = await agentrt.llm([{"role": "user", "content": first.text}], max_tokens=5)
    return second.text, second.output_tokens


@agentrt.program
async def replay_like_program(key: str) -> list[int]:
    """Two turns whose second prompt extends the first turn's context (as trace replay does)."""
    first = await agentrt.llm(agentrt.Tokens.synthetic(300, key=key), max_tokens=20, ignore_eos=True)
    await vllm_test_wait(0.3)
    assert first.context is not None
    second = await agentrt.llm(first.context + agentrt.Tokens.synthetic(40, key=key + "/2"), max_tokens=20,
                               ignore_eos=True)
    return [first.cached_tokens, second.cached_tokens, second.prompt_tokens]


@scenario
async def end_to_end(rt: agentrt.Runtime, engine: VLLMEngine) -> dict[str, Any]:
    handles = [rt.submit(chat_program, "search"), rt.submit(replay_like_program, "e2e-a"),
               rt.submit(replay_like_program, "e2e-b")]
    results = await rt.wait(handles)
    return {"results": results, "records": [h.record for h in handles], "stats": await engine.query_statistics()}


def test_programs_run_end_to_end_through_the_runtime(seen: dict[str, Any]) -> None:
    got = observed(seen, "end_to_end")
    # the plugin class vLLM runs: the synchronous one on CPU, the async-scheduling one on CUDA
    assert got["stats"].scheduler_cls == ("AgentScheduler" if on_cpu() else "AgentAsyncScheduler")
    (text, num_out), first, second = got["results"]
    assert isinstance(text, str) and num_out >= 1
    for cached in (first, second):
        assert cached[0] == 0 and cached[2] == 360
        assert cached[1] >= 288  # the first turn's 320 tokens of context, in full 32-token blocks
    for record in got["records"]:
        assert record.status is agentrt.ProgramStatus.OK
        llm_calls = [c for c in record.calls.values() if c.kind is agentrt.CallKind.LLM]
        assert all(c.service_time > 0 and c.first_scheduled >= c.arrival for c in llm_calls)


# -- bad input ---------------------------------------------------------------------------------
@agentrt.program
async def too_long_program() -> str:
    try:
        await agentrt.llm(agentrt.Tokens.synthetic(2000, key="too-long"), max_tokens=8)
    except agentrt.PromptTooLongError as exc:
        return f"rejected: {exc}"
    return "accepted"


@scenario
async def too_long(rt: agentrt.Runtime, engine: VLLMEngine) -> dict[str, Any]:
    bad, good = rt.submit(too_long_program), rt.submit(chat_program, "long")
    return {"bad": await bad, "good": await good}


def test_over_long_prompt_fails_its_call_only(seen: dict[str, Any]) -> None:
    got = observed(seen, "too_long")
    assert got["bad"].startswith("rejected:") and "context length (1024 tokens)" in got["bad"]
    assert got["good"][1] >= 1  # the engine kept serving the other program


PINNED_FIRST_TOOL_S = 4.0  # the program's observed tool gap: its pin's TTL, far longer than one poll


@agentrt.program
async def pinned_then_long_tool(key: str) -> None:
    first = await agentrt.llm(agentrt.Tokens.synthetic(300, key=key), max_tokens=8, ignore_eos=True)
    await vllm_test_wait(PINNED_FIRST_TOOL_S)
    assert first.context is not None
    await agentrt.llm(first.context + agentrt.Tokens.synthetic(32, key=key + "/2"), max_tokens=8, ignore_eos=True)
    await vllm_test_wait(600.0)  # cancelled in here, while its KV is pinned


LONG_GENERATION = 700  # output tokens: 300 + 700 fill the 1024-token context; cancelled after the first


@agentrt.program
async def long_generation(key: str) -> None:
    await agentrt.llm(agentrt.Tokens.synthetic(300, key=key), max_tokens=LONG_GENERATION, ignore_eos=True)


@scenario
async def cancellation(rt: agentrt.Runtime, engine: VLLMEngine) -> dict[str, Any]:
    before = await engine.query_statistics()
    running = rt.submit(long_generation, "cancel-running")
    await until(lambda: emitted(engine, running.record.calls) > 0, "the long generation's first token")
    running.cancel()
    running_outcome = await outcome(running)
    after_running = await engine.query_statistics()
    pinned = rt.submit(pinned_then_long_tool, "cancel-pinned")
    await until(lambda: len(pinned.record.calls) >= 4, "the second LLM call done, the long tool started")
    during = await engine.query_statistics()
    pinned.cancel()
    pinned_outcome = await outcome(pinned)
    after_pinned = await engine.query_statistics()
    return {"before": before, "after_running": after_running, "during": during, "after_pinned": after_pinned,
            "running": running_outcome, "pinned": pinned_outcome, "record": running.record}


def test_cancelling_a_program_aborts_its_requests_and_releases_its_pins(seen: dict[str, Any]) -> None:
    got = observed(seen, "cancellation")
    assert isinstance(got["running"], agentrt.ProgramCancelledError)
    assert isinstance(got["pinned"], agentrt.ProgramCancelledError)
    assert got["record"].status is agentrt.ProgramStatus.CANCELLED
    before: VLLMStats = got["before"]
    assert got["after_running"].num_aborted == before.num_aborted + 1
    assert got["after_running"].num_output_tokens == before.num_output_tokens  # it never finished
    assert got["after_running"].num_free_blocks == before.num_free_blocks
    assert got["during"].num_pinned_blocks > 0
    assert got["after_pinned"].num_pinned_blocks == 0
    assert got["after_pinned"].num_free_blocks == before.num_free_blocks


# -- KV pinning --------------------------------------------------------------------------------
PIN_ACROSS_GAP_S = 60.0  # the pin's TTL: the noise between the two turns must not outlast it


@scenario
async def pin_across_gap(rt: agentrt.Runtime, engine: VLLMEngine) -> dict[str, Any]:
    hints = SchedHints(gap_samples=(PIN_ACROSS_GAP_S,))
    out: dict[str, Any] = {}
    for program_id, keep in (("pinned", True), ("unpinned", False)):
        prompt = agentrt.Tokens.synthetic(640, key=program_id)
        first = await call(engine, program_id, prompt, 8, hints=hints)
        if not keep:
            await engine.release_program(program_id)  # what the program's end does: the pin goes
        await noise(engine, program_id)
        second = await call(engine, program_id, prompt + first.output + agentrt.Tokens.synthetic(32, key="x"), 8, n=2)
        await engine.release_program(program_id)
        out[program_id] = (first, second)
    out["stats"] = await engine.query_statistics()
    return out


def test_pinned_program_hits_the_prefix_cache_after_a_gap_that_evicts_it_unpinned(seen: dict[str, Any]) -> None:
    got = observed(seen, "pin_across_gap")
    first, second = got["pinned"]
    assert first.pin_ttl == PIN_ACROSS_GAP_S  # the policy's TTL: the one gap sample, worth its cost
    assert second.num_cached_tokens == 640  # 20 full blocks of the first turn survived the noise
    first, second = got["unpinned"]
    assert second.num_cached_tokens == 0  # the same gap without the pin evicts the context
    assert got["stats"].num_pin_hits >= 1 and got["stats"].num_pinned_blocks == 0


PIN_TTL_S = 3.0


@scenario
async def pin_expiry(rt: agentrt.Runtime, engine: VLLMEngine) -> dict[str, Any]:
    before = await engine.query_statistics()
    first = await call(engine, "expiring", agentrt.Tokens.synthetic(320, key="expiring"), 8,
                       hints=SchedHints(gap_samples=(PIN_TTL_S,)))
    pinned = await engine.query_statistics()
    pinned_at = anyio.current_time()  # the snapshot was taken before this
    expired = await until_engine(engine, lambda s: s.num_pin_expiries > before.num_pin_expiries, "the pin expires")
    expired_at = anyio.current_time()
    await engine.release_program("expiring")
    return {"first": first, "before": before, "pinned": pinned, "pinned_at": pinned_at, "expired": expired,
            "expired_at": expired_at}


def test_pin_expires_at_its_ttl(seen: dict[str, Any]) -> None:
    got = observed(seen, "pin_expiry")
    first = got["first"]
    assert first.pin_ttl == PIN_TTL_S
    if got["pinned_at"] < first.finish + first.pin_ttl:  # always, unless this process stalled for the TTL
        assert got["pinned"].num_pinned_blocks == 10
        assert got["pinned"].num_free_blocks == got["before"].num_free_blocks - 10
    # not before its TTL (counted from the call's first step, before its finish in the engine)
    assert got["expired_at"] >= first.first_scheduled + first.pin_ttl
    assert got["expired"].num_pin_expiries == got["before"].num_pin_expiries + 1
    assert got["expired"].num_pinned_blocks == 0 and got["expired"].num_free_blocks == got["before"].num_free_blocks


# -- policy order under contention -------------------------------------------------------------
# agentrt's queues are ATLAS's: by the critical-path service of the call's parents (the priority hint)
# (x100: a call's service is the wall time of its steps, and a call demoted past the next one's
# queue by its own service would be preempted by it: on a loaded CPU, 16 tokens took over 2 s)
# in arrival order; under agentrt's known-long cut (nearest_end_level: 32 s), so ATLAS's order
PRIORITIES = {"p8": 8.0, "p0": 0.0, "p32": 31.0, "p2": 2.0}


BLOCKER_TOKENS = 600


@scenario
async def policy_order(rt: agentrt.Runtime, engine: VLLMEngine) -> dict[str, Any]:
    done: list[str] = []

    async def one(program_id: str, priority: float, max_tokens: int) -> None:
        await call(engine, program_id, agentrt.Tokens.synthetic(64, key=program_id), max_tokens,
                   hints=SchedHints(priority=priority))
        done.append(program_id)

    async with anyio.create_task_group() as tg:
        tg.start_soon(one, "blocker", 0.0, BLOCKER_TOKENS)
        await until(lambda: emitted(engine, ["blocker.1"]) > 0, "the blocker running")
        for n, (program_id, priority) in enumerate(PRIORITIES.items(), 2):  # one at a time, in this order
            tg.start_soon(one, program_id, priority, 16)
            await until_engine(engine, knows(n), f"{program_id} in the engine")
        queued = await engine.query_statistics()
        blocker_running = "blocker.1" in engine.in_flight()
    for program_id in done:
        await engine.release_program(program_id)
    return {"done": done, "queued": queued, "blocker_running": blocker_running}


def expected_order() -> list[str]:
    """The same policy object, fed the same calls by hand."""
    scheduler = ProgramScheduler(POLICY)
    for program_id, priority in PRIORITIES.items():
        scheduler.add_call(program_id, program_id, SchedHints(priority=priority), 0.0)
    return [call.program_id for call in scheduler.order_waiting(0.0)]


def test_completion_order_under_contention_follows_the_policy(seen: dict[str, Any]) -> None:
    got = observed(seen, "policy_order")
    # all four waited together behind the running blocker
    assert got["queued"].num_waiting == 4 and got["blocker_running"]
    done = [p for p in got["done"] if p != "blocker"]
    assert expected_order() == ["p0", "p2", "p8", "p32"] != list(PRIORITIES)
    assert done == expected_order()


# -- residency gating ------------------------------------------------------------------------------
@scenario
async def residency_gating(rt: agentrt.Runtime, engine: VLLMEngine) -> dict[str, Any]:
    """Three programs of 800-token contexts: two fit 90% of 2,016 KV tokens, the third is held out
    of vLLM's waiting queue until one of the first two ends."""
    out: dict[str, Any] = {}

    async def one(program_id: str) -> None:
        out[program_id] = await call(engine, program_id, agentrt.Tokens.synthetic(800, key=program_id), 200)
        await engine.release_program(program_id)
        out[program_id + "/released"] = anyio.current_time()

    async with anyio.create_task_group() as tg:
        for n, program_id in enumerate(("gate-1", "gate-2", "gate-3"), 1):  # one at a time, in this order
            tg.start_soon(one, program_id)
            arrived = await until_engine(engine, knows(n), f"{program_id} in the engine")
        out["held"] = arrived.num_held  # as gate-3 arrived
        out["gate-1 running"] = "gate-1.1" in engine.in_flight()
    out["held_after"] = (await engine.query_statistics()).num_held
    return out


def test_residency_gating_holds_a_new_program_until_the_working_set_has_room(seen: dict[str, Any]) -> None:
    o = observed(seen, "residency_gating")
    assert o["gate-1 running"]  # gate-3 arrived while gate-1 still ran
    assert o["held"] == 1 and o["held_after"] == 0
    first_release = min(o["gate-1/released"], o["gate-2/released"])
    assert o["gate-3"].first_scheduled >= first_release - 0.05
    assert all(o[p].num_output_tokens == 200 for p in ("gate-1", "gate-2", "gate-3"))
