"""Parity: one scripted scenario yields the same sequence of scheduler decisions on the simulator
(virtual time) and on real vLLM (CPU, the tiny model, agentrt's plugin via `scheduler_cls`).

Both engines embed the same `ProgramScheduler`, which records its decisions in a `DecisionLog`
(runtime/scheduling/decisions.py): admissions, victims, pins granted / ended / expired /
released, residency gating's holds and releases, finishes and aborts. The scenario drives each
engine through the engine protocol only, and every step waits for an observed decision (the log
itself, polled), never for a sleep, so the wall-clock engine and the virtual-time one see the
events in the same order. Both logs must equal `EXPECTED`, written out by hand from the policy's
rules (so the simulator's run, fast and in every `pytest`, already checks the scenario).

Same KV geometry on both: 63 usable blocks of 32 tokens (vLLM's `num_gpu_blocks_override=64`
includes its null block), 2,048 tokens per step, 8 sequences. The policy's wall-clock rules are
made robust to a slow machine: anti-starvation off (beta 1e9), no demotion (quanta 1e9 s),
priorities 0 and 2000 on either side of the one queue boundary (1000), pins free to hold while
nothing waits (`pin_idle_cost=0`: a pin's TTL is then its one gap sample, on both engines), long
pins of 300 s (they cannot expire early), a short one of 1 s (the test waits until it is observed
expired), residency gating with the whole cache as the working set and no backfill deadline.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import agentrt
from agentrt.engine_adapters.base import Engine, GenerationRequest, GenerationResult, Prompt, SchedHints
from agentrt.engine_adapters.driver import EngineDriver
from agentrt.engine_adapters.sim import SimEngine
from agentrt.runtime.scheduling import Decision, DecisionKind, PolicyConfig

BLOCK_SIZE = 32
NUM_BLOCKS = 63  # usable
LONG_TTL_S = 300.0  # a pin that must outlive the scenario's next steps, on the slowest machine
SHORT_TTL_S = 1.0  # a pin the scenario waits to see expire
IDLE_S = 0.01  # residency idle release: below one poll, so the programs idle since earlier steps qualify
POLL_S = 0.02
WAIT_LIMIT_S = 240.0  # an observation this late means a hang, not a slow machine
POLICY = PolicyConfig(name="agentrt", num_queues=2, boundaries=(1000.0,), quanta=(1e9, 1e9), beta=1e9,
                      pin_idle_cost=0.0, max_ttl=600.0, residency_fraction=1.0, residency_idle_s=IDLE_S,
                      residency_backfill_s=1e9)
ENGINE_LIMITS = {"max_model_len": 2016, "max_num_batched_tokens": 2048, "max_num_seqs": 8,
                 "block_size": BLOCK_SIZE}
LOW_PRIORITY = 2000.0  # ATLAS priority past the queue boundary: a call any top-queue call may preempt

K = DecisionKind


def d(kind: DecisionKind, subject: str, ttl: float = 0.0) -> Decision:
    """A decision on a call ("a.1") or a program ("a")."""
    program_id, _, n = subject.partition(".")
    return Decision(kind, program_id, subject if n else "", ttl)


def first_call(call_id: str) -> list[Decision]:
    """A new program's first call: it waits outside the working set until the next pass lets
    its program in, then is admitted and runs alone."""
    program_id = call_id.partition(".")[0]
    return [d(K.ARRIVED, call_id), d(K.HELD, call_id), d(K.JOINED, program_id), d(K.ADMITTED, call_id),
            d(K.FINISHED, call_id)]


EXPECTED = [
    # 1. a pin granted after a's first call ends when a's next call is admitted
    *first_call("a.1"), d(K.PIN_GRANTED, "a", LONG_TTL_S),
    d(K.ARRIVED, "a.2"), d(K.ADMITTED, "a.2"), d(K.PIN_ENDED, "a"), d(K.FINISHED, "a.2"),
    # 2. a pin that expires
    *first_call("b.1"), d(K.PIN_GRANTED, "b", SHORT_TTL_S), d(K.PIN_EXPIRED, "b"),
    # 3. c joins with a small call; p pins 15 blocks
    *first_call("c.1"),
    *first_call("p.1"), d(K.PIN_GRANTED, "p", LONG_TTL_S),
    # 4. v, low priority, runs; c's 50-block call finds 27 blocks free: p's pin is released (15),
    #    then v is preempted (its program leaves the working set and waits), then c's call runs
    *first_call("v.1")[:-1],
    d(K.ARRIVED, "c.2"), d(K.PIN_RELEASED, "p"), d(K.PREEMPTED, "v.1"), d(K.LEFT_PREEMPTED, "v"),
    d(K.HELD, "v.1"), d(K.ADMITTED, "c.2"),
    # 5. v does not fit beside c: the idle programs leave the working set, still not enough; gating
    #    holds v until c has been idle for residency_idle_s after its call
    d(K.LEFT_IDLE, "a"), d(K.LEFT_IDLE, "b"), d(K.LEFT_IDLE, "p"),
    d(K.FINISHED, "c.2"), d(K.LEFT_IDLE, "c"), d(K.JOINED, "v"), d(K.ADMITTED, "v.1"),
    # 6. v is cancelled while it runs; every program ends
    d(K.ABORTED, "v.1"),
    *(d(K.ENDED, program_id) for program_id in "abcpv"),
]

Decisions = Callable[[], Awaitable[list[Decision]]]


class Log:
    """The engine's decision log, polled until a wanted decision shows up."""

    def __init__(self, decisions: Decisions) -> None:
        self.decisions = decisions
        self.seen: list[Decision] = []

    async def until(self, wanted: Decision, count: int = 1) -> None:
        """Return once `wanted` has been logged `count` times. Raises TimeoutError (with the log
        so far) after WAIT_LIMIT_S."""
        try:
            with anyio.fail_after(WAIT_LIMIT_S):
                while True:
                    self.seen = await self.decisions()
                    if self.seen.count(wanted) >= count:
                        return
                    await anyio.sleep(POLL_S)
        except TimeoutError as exc:
            raise TimeoutError(f"never observed {wanted} x{count}; log: {', '.join(map(str, self.seen))}") from exc


def prompt(num_tokens: int, key: str) -> agentrt.Tokens:
    return agentrt.Tokens.synthetic(num_tokens, key=f"parity/{key}")


async def generate(engine: Engine, call_id: str, prompt: Prompt, max_tokens: int, *,
                   gap_s: float | None = None, priority: float = 0.0) -> GenerationResult:
    hints = SchedHints(priority=priority, gap_samples=(gap_s,) if gap_s else ())
    return await engine.generate(GenerationRequest(
        call_id=call_id, program_id=call_id.partition(".")[0], prompt=prompt, max_tokens=max_tokens,
        arrival=anyio.current_time(), ignore_eos=True, hints=hints))


async def scenario(engine: Engine, decisions: Decisions) -> list[Decision]:
    """Run the scripted scenario on a started engine; returns its decision log (see EXPECTED).
    Each context below is a whole number of blocks when its call finishes (prompt + output - 1),
    so both engines pin the same blocks."""
    log = Log(decisions)
    a1 = await generate(engine, "a.1", prompt(319, "a"), 2, gap_s=LONG_TTL_S)
    await generate(engine, "a.2", prompt(319, "a") + a1.output + prompt(32, "a2"), 1)
    await generate(engine, "b.1", prompt(319, "b"), 2, gap_s=SHORT_TTL_S)
    await log.until(d(K.PIN_EXPIRED, "b"))
    await generate(engine, "c.1", prompt(32, "c"), 1)
    await generate(engine, "p.1", prompt(448, "p"), 33, gap_s=LONG_TTL_S)  # 15 blocks

    async def low_priority_call() -> None:
        with pytest.raises(agentrt.LLMCallError):  # aborted below
            await generate(engine, "v.1", prompt(640, "v"), 1000, priority=LOW_PRIORITY)

    async with anyio.create_task_group() as tg:
        tg.start_soon(low_priority_call)
        await log.until(d(K.ADMITTED, "v.1"))
        await generate(engine, "c.2", prompt(1600, "c2"), 8)  # 50 blocks
        await log.until(d(K.ADMITTED, "v.1"), count=2)
        await engine.abort("v.1")
    for program_id in "abcpv":
        await engine.release_program(program_id)
    await log.until(d(K.ENDED, "v"))
    return log.seen


def explain(got: list[Decision], expected: list[Decision]) -> str:
    """Where two logs part, with a little context."""
    i = next((i for i, (x, y) in enumerate(zip(got, expected)) if x != y), min(len(got), len(expected)))
    return (f"first difference at decision {i}: got {', '.join(map(str, got[i:i + 4]))} ... expected "
            f"{', '.join(map(str, expected[i:i + 4]))} (agreed before: {', '.join(map(str, got[max(i - 4, 0):i]))})")


def sim_decisions() -> list[Decision]:
    async def main() -> list[Decision]:
        engine = SimEngine(num_gpu_blocks=NUM_BLOCKS, record_decisions=True, **ENGINE_LIMITS)

        async def decisions() -> list[Decision]:
            return engine.decisions()

        async with anyio.create_task_group() as tg:
            await engine.start(POLICY, tg)
            try:
                return await scenario(engine, decisions)
            finally:
                await engine.stop()

    return agentrt.run(main, virtual_time=True)


def vllm_decisions(model: Path) -> list[Decision]:
    from agentrt.engine_adapters.vllm import VLLMEngine

    async def main() -> list[Decision]:
        engine = VLLMEngine(str(model), num_gpu_blocks_override=NUM_BLOCKS + 1, dtype="float32",
                            record_decisions=True, **ENGINE_LIMITS)
        async with anyio.create_task_group() as tg:
            await engine.start(POLICY, tg)
            try:
                return await scenario(engine, engine.query_decisions)
            finally:
                await engine.stop()

    return agentrt.run(main, virtual_time=False)


def test_the_scenario_makes_the_expected_decisions_on_the_simulator() -> None:
    got = sim_decisions()
    assert got == EXPECTED, explain(got, EXPECTED)


@pytest.mark.vllm
@pytest.mark.timeout(900)
@pytest.mark.filterwarnings("ignore::DeprecationWarning:torch", "ignore::FutureWarning:vllm",
                            "ignore::DeprecationWarning:vllm", "ignore::FutureWarning:torch")
def test_vllm_makes_the_same_decisions_as_the_simulator(tiny_model: Path) -> None:
    got, sim = vllm_decisions(tiny_model), sim_decisions()
    assert got == sim, explain(got, sim)
    assert got == EXPECTED, explain(got, EXPECTED)


def test_the_old_simulator_pin_rule_breaks_parity(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison can fail: with the simulator's old rule (a pin ends when the program's next
    call arrives, not when it is admitted) the log parts from EXPECTED at a's second call."""
    on_arrival = EngineDriver.on_arrival

    def pin_ends_at_arrival(driver: EngineDriver, call_id: str, program_id: str, *args: Any, **kwargs: Any) -> Any:
        if driver.scheduler.pins.pop(program_id) is not None:
            driver.kv.unpin(program_id)
        return on_arrival(driver, call_id, program_id, *args, **kwargs)

    monkeypatch.setattr(EngineDriver, "on_arrival", pin_ends_at_arrival)
    got = sim_decisions()
    i = EXPECTED.index(d(K.PIN_ENDED, "a"))
    assert got[:i] == EXPECTED[:i] and got[i] == d(K.FINISHED, "a.2"), explain(got, EXPECTED)


def test_a_divergence_is_reported_where_it_starts() -> None:
    moved = [*EXPECTED[:10], EXPECTED[11], EXPECTED[10], *EXPECTED[12:]]
    assert moved != EXPECTED
    assert explain(moved, EXPECTED).startswith(f"first difference at decision 10: got {EXPECTED[11]}")
