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

import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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


def filler_text(num_tokens: int) -> str:
    """Text of about `num_tokens` tokens (one word per token)."""
    return " ".join((_FILLER * (num_tokens // len(_FILLER) + 1))[:max(num_tokens, 0)])


def text_to_tokens(text: str, vocab_size: int = 32000) -> Tokens:
    """An approximate tokenization (one token per 4 characters), stable across runs."""
    data = text.encode()
    return Tokens.of(zlib.crc32(data[i:i + 4]) % vocab_size for i in range(0, len(data), 4))


def prompt_to_tokens(prompt: Prompt) -> Tokens:
    """Tokens of a prompt: itself if already tokens, else the approximate tokenization."""
    if isinstance(prompt, Tokens):
        return prompt
    if isinstance(prompt, str):
        return text_to_tokens(prompt)
    return text_to_tokens("".join(f"<|{m['role']}|>{m['content']}\n" for m in prompt))
