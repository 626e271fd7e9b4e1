"""The engine protocol: all the runtime needs from an engine, and the records that cross it.

The boundary is plain frozen dataclasses (as vLLM v1's `SchedulerOutput`): a `GenerationRequest`
carries the prompt, the sampling settings and the policy's inputs (`SchedHints`); a
`GenerationResult` carries the text, the output tokens and the accounting. Engines never see
programs, futures or DAGs; the runtime never sees KV blocks.

Engines: `agentrt.engine_adapters.sim` (simulated GPU, virtual time, the default),
`agentrt.engine_adapters.vllm` (real vLLM, the only module that imports vllm) and
`agentrt.engine_adapters.testing` (a deterministic engine that records what it was asked).
"""

from __future__ import annotations

import functools
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from agentrt.programs.tokens import Tokens
from agentrt.runtime.scheduling.hints import SchedHints  # re-exported: it crosses the boundary

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from agentrt.runtime.scheduling.policies.config import PolicyConfig

Message = dict[str, str]  # {"role": ..., "content": ...}
Prompt = str | tuple[Message, ...] | Tokens


# Boundary records are plain slotted dataclasses, read-only by convention: `frozen=True` makes
# construction ~3x slower, and two of them are built per LLM call on the runtime's hot path.
@dataclass(slots=True)
class GenerationRequest:
    """One LLM call as the engine sees it. `ignore_eos` asks for exactly `max_tokens` tokens."""

    call_id: str
    program_id: str
    prompt: Prompt
    max_tokens: int
    arrival: float
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    hints: SchedHints = field(default_factory=SchedHints)
    extra: dict[str, Any] | None = None


@dataclass(slots=True)
class GenerationResult:
    """What the engine returns for a finished call. Times on the runtime clock.

    service_time: summed duration of the engine iterations that scheduled this call.
    pin_ttl: seconds the engine keeps the program's KV pinned after this call (0: not pinned).
    """

    text: str
    output: Tokens
    num_prompt_tokens: int
    num_cached_tokens: int
    num_output_tokens: int
    queue_wait: float
    service_time: float
    first_scheduled: float
    finish: float
    num_prefill_tokens: int = 0
    preemptions: int = 0
    recomputed_tokens: int = 0
    pin_ttl: float = 0.0
    finish_reason: str = "length"


Responder = Callable[[GenerationRequest], str]  # a simulated model: the text of each answer


class Engine(ABC):
    """What the runtime needs from an engine.

    Lifecycle: `await start(policy, task_group)` once (background work goes into `task_group`),
    then any number of concurrent `generate` calls, then `await stop()`.
    """

    name: str = "engine"

    @abstractmethod
    async def start(self, policy: PolicyConfig, task_group: TaskGroup) -> None:
        """Start serving with this policy. Raises EngineError if the engine cannot start."""

    @abstractmethod
    async def stop(self) -> None:
        """Stop serving and release every resource."""

    @abstractmethod
    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Run one call to completion. Raises PromptTooLongError if the prompt cannot fit,
        LLMCallError for other engine failures. Cancelling the caller does not abort the request
        by itself: the runtime calls `abort`."""

    def submit(self, request: GenerationRequest, on_done: Callable[[GenerationResult | BaseException], None]) -> bool:
        """Start a call without awaiting it; `on_done` gets the result or the exception when it
        ends (possibly before `submit` returns). Returns False when the engine has no native
        submit: the runtime then awaits `generate` in a task. Aborted calls never call `on_done`."""
        return False

    @abstractmethod
    async def abort(self, call_id: str) -> None:
        """Abort a call if it is still queued or running (no-op otherwise)."""

    @abstractmethod
    async def release_program(self, program_id: str) -> None:
        """Drop everything held for a program (pins, per-program state): it has ended."""

    async def hint_tool(self, program_id: str, tool_name: str, gap_samples: tuple[float, ...]) -> None:
        """A tool call of this program started: the engine may update its pin. Default: ignore."""

    def statistics(self) -> Any:
        """Engine statistics as a frozen dataclass (engine-specific)."""
        return None

    def now(self) -> float:
        """The engine's clock; the runtime clock by default."""
        import anyio

        return anyio.current_time()


# -- text helpers shared by engines that do not run a real tokenizer ---------------------------
_FILLER = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()


@functools.lru_cache(maxsize=256)
def filler_text(num_tokens: int) -> str:
    """Text of about `num_tokens` tokens (one word per token). Cached: the simulator answers every
    call without a responder with it, and most calls of a run share a few `max_tokens`."""
    return " ".join((_FILLER * (num_tokens // len(_FILLER) + 1))[:max(num_tokens, 0)])


def text_to_tokens(text: str, vocab_size: int = 32000) -> Tokens:
    """An approximate tokenization (one token per 4 characters), stable across runs: token i is
    the CRC-32 of bytes 4i..4i+3 of the UTF-8 text, modulo `vocab_size`."""
    data = text.encode()
    if len(data) < _VECTOR_MIN_BYTES:
        crc = zlib.crc32
        ids = [crc(data[i:i + 4]) % vocab_size for i in range(0, len(data), 4)]
    else:
        ids = _crc32_words(data, vocab_size)
    return Tokens(None, None, tuple(ids), len(ids))  # ids are ints already: not Tokens.of's int() per id


# CRC-32 over a fixed length is affine in its input bits, so the CRC of 4 bytes is the XOR of one
# table entry per byte position (the CRC of that byte alone in that position) and the CRC of 4 zero
# bytes: numpy computes a long text's tokens 5-9x faster than a zlib call per 4 bytes (a 2,000-token
# tool output took 2 ms of the server's thread), with the same ids. Short texts: zlib is faster.
_CRC_TABLES = np.array([[zlib.crc32(bytes(v if j == k else 0 for j in range(4))) for v in range(256)]
                        for k in range(4)], dtype=np.uint32)
_CRC_ZERO = np.uint32(zlib.crc32(bytes(4)))
_VECTOR_MIN_BYTES = 512


def _crc32_words(data: bytes, vocab_size: int) -> list[int]:
    whole = len(data) // 4 * 4
    b = np.frombuffer(data, dtype=np.uint8, count=whole).reshape(-1, 4)
    t = _CRC_TABLES
    crc = t[0][b[:, 0]] ^ t[1][b[:, 1]] ^ t[2][b[:, 2]] ^ t[3][b[:, 3]] ^ _CRC_ZERO
    ids: list[int] = (crc % vocab_size).tolist()
    if whole < len(data):
        ids.append(zlib.crc32(data[whole:]) % vocab_size)
    return ids


def prompt_to_tokens(prompt: Prompt) -> Tokens:
    """Tokens of a prompt: itself if already tokens, else the approximate tokenization."""
    if isinstance(prompt, Tokens):
        return prompt
    if isinstance(prompt, str):
        return text_to_tokens(prompt)
    return text_to_tokens("".join(f"<|{m['role']}|>{m['content']}\n" for m in prompt))
