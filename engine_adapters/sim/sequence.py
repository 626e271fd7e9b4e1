"""`SimSequence`: one call inside the simulator, from arrival to finish.

Token accounting follows vLLM v1's `Request`: `num_tokens` is prompt + tokens sampled so far,
`num_computed` how many of them are in the KV cache. Every step computes
`min(num_tokens - num_computed, budget)` tokens; a step that catches up samples one more token.
Prefill, chunked prefill, decode and recomputation after a preemption are all that one rule.
The whole output is fixed at arrival (`Tokens`, keyed by the call), so the blocks the call will
fill have known hashes and a finished call's output blocks can hit on its program's next turn.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio

from agentrt.engine_adapters.base import GenerationRequest
from agentrt.programs.tokens import Tokens
from agentrt.runtime.scheduling.policies.base import CallState


class SeqStatus(enum.Enum):
    WAITING = "waiting"  # queued, or preempted and queued again
    RUNNING = "running"
    FINISHED = "finished"
    ABORTED = "aborted"


@dataclass(slots=True, eq=False)
class SimSequence:
    request: GenerationRequest
    text: str
    output: Tokens
    hashes: list[int]  # chained hashes of the full blocks of prompt + output
    num_prompt_tokens: int
    num_output_tokens: int  # the call's output length (fixed at arrival)
    arrival: float
    program_id: str  # `request.program_id`, kept as a field (read ~6 times per call)
    context: Tokens | None = None  # prompt + output, kept so that the runtime's sum of the two is this object (hashed once)
    call: CallState = field(init=False)  # set when the scheduler registers the call
    status: SeqStatus = SeqStatus.WAITING
    block_ids: list[int] = field(default_factory=list)
    num_generated: int = 0
    num_computed: int = 0
    num_registered_blocks: int = 0  # leading blocks already indexed in the prefix cache
    registered_own: bool = True  # each of them under its own hash (`KVCache.register` returned True)
    max_computed: int = 0  # high-water mark of num_computed (recompute accounting)
    num_swapped: int = 0  # tokens held in host memory while preempted by swapping
    num_host_tokens: int = 0  # prefix tokens its program's context holds in the host KV tier
    # the record returned to the caller
    waiting_since: float = 0.0
    queue_wait: float = 0.0
    first_scheduled: float | None = None
    service_time: float = 0.0
    num_cached_tokens: int = 0
    num_prefill_tokens: int = 0
    num_recomputed_tokens: int = 0
    preemptions: int = 0
    pin_ttl: float = 0.0
    finish: float = 0.0
    error: BaseException | None = None
    done: anyio.Event | None = None  # what `SimEngine.generate` waits on
    on_done: Callable[[SimSequence], None] | None = None  # `SimEngine.submit`'s callback

    def wake(self) -> None:
        """The call ended (finished, failed or aborted): wake its `generate`, or run its callback."""
        if self.done is not None:
            self.done.set()
        if self.on_done is not None:
            self.on_done(self)

    @property
    def num_tokens(self) -> int:
        return self.num_prompt_tokens + self.num_generated
