"""`RecordingEngine`: a deterministic in-process engine for tests and overhead benchmarks.

It records every request, abort, release and tool hint it receives, answers each call after a
fixed (or per-request) latency on the runtime clock, and fails the calls you tell it to. No
patching needed: pass it to `Runtime(engine=RecordingEngine(...))` and inspect it afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from agentrt.engine_adapters.base import Engine, GenerationRequest, GenerationResult, filler_text, prompt_to_tokens
from agentrt.programs.tokens import Tokens

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from agentrt.runtime.scheduling.policies.config import PolicyConfig


class RecordingEngine(Engine):
    """latency: seconds per call, or a function of the request.
    responder: text of the answer for a request (default: filler of max_tokens tokens).
    fail: a function returning an exception to raise for a request, or None.
    """

    name = "recording"

    def __init__(self, *, latency: float | Callable[[GenerationRequest], float] = 0.0,
                 responder: Callable[[GenerationRequest], str] | None = None,
                 fail: Callable[[GenerationRequest], BaseException | None] | None = None,
                 record: bool = True) -> None:
        self.latency = latency
        self.responder = responder
        self.fail = fail
        self.record = record
        self.requests: list[GenerationRequest] = []
        self.finished: list[str] = []
        self.aborted: list[str] = []
        self.released: list[str] = []
        self.tool_hints: list[tuple[str, str]] = []
        self.policy: PolicyConfig | None = None
        self.running = False

    async def start(self, policy: PolicyConfig, task_group: TaskGroup) -> None:
        self.policy, self.running = policy, True

    async def stop(self) -> None:
        self.running = False

    def submit(self, request: GenerationRequest, on_done: Callable[[GenerationResult | BaseException], None]) -> bool:
        """Zero-latency calls finish at once, without a task; the others take the generate path."""
        if callable(self.latency) or self.latency > 0:
            return False
        if self.record:
            self.requests.append(request)
        try:
            result: GenerationResult | BaseException = self._answer(request, anyio.current_time(), 0.0)
        except Exception as exc:  # handed to the runtime like an engine failure
            result = exc
        on_done(result)
        return True

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        if self.record:
            self.requests.append(request)
        start = anyio.current_time()
        delay = self.latency(request) if callable(self.latency) else self.latency
        if delay > 0:
            await anyio.sleep(delay)
        return self._answer(request, start, delay)

    def _answer(self, request: GenerationRequest, start: float, delay: float) -> GenerationResult:
        if self.fail is not None and (exc := self.fail(request)) is not None:
            raise exc
        text = self.responder(request) if self.responder else filler_text(request.max_tokens)
        n_out = request.max_tokens if (self.responder is None or request.ignore_eos) else max(1, len(text.split()))
        if self.record:
            self.finished.append(request.call_id)
        n_prompt = len(request.prompt) if isinstance(request.prompt, Tokens) else len(prompt_to_tokens(request.prompt))
        return GenerationResult(text=text, output=Tokens.synthetic(n_out, key=request.call_id),
                                num_prompt_tokens=n_prompt, num_cached_tokens=0, num_output_tokens=n_out,
                                queue_wait=0.0, service_time=delay, first_scheduled=start,
                                finish=anyio.current_time(), num_prefill_tokens=n_prompt)

    async def abort(self, call_id: str) -> None:
        self.aborted.append(call_id)

    async def release_program(self, program_id: str) -> None:
        self.released.append(program_id)

    async def hint_tool(self, program_id: str, tool_name: str, gap_samples: tuple[float, ...]) -> None:
        self.tool_hints.append((program_id, tool_name))

    def statistics(self) -> Any:
        return {"requests": len(self.requests), "aborted": len(self.aborted)}
