"""The OpenAI request bodies the simulator server accepts, as pydantic models (its OpenAPI schema).

Only the fields the simulator acts on are typed and validated; the many other fields clients send
(`logprobs`, `parallel_tool_calls`, `metadata`, ...) are accepted and ignored, as OpenAI-compatible
servers do. `n` must be 1. Extensions: vLLM's `ignore_eos`, `min_tokens` and `vllm_xargs`, and
`agent_hint` (vLLM RFC #52113).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_MAX_TOKENS = 256
DEFAULT_COMPLETION_MAX_TOKENS = 16  # OpenAI's default for /v1/completions


class FunctionCall(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(description="The tool's name.")
    arguments: str = Field(default="{}", description="The arguments, a JSON string.")


class ToolCall(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = Field(default=None, description="The call's id, echoed by the tool message.")
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"] = Field(
        description="Who wrote the message.")
    content: str | list[dict[str, Any]] | None = Field(default=None, description="Text, or content parts.")
    name: str | None = None
    tool_calls: list[ToolCall] | None = Field(default=None, description="An assistant's tool calls.")
    tool_call_id: str | None = Field(default=None, description="The tool call a tool message answers.")


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class _Sampling(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = Field(description="A model id from /v1/models.")
    stream: bool = Field(default=False, description="Answer as server-sent events.")
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, description="Sampling temperature, 0..2.")
    top_p: float | None = Field(default=None, gt=0.0, le=1.0, description="Nucleus sampling, (0, 1].")
    n: int = Field(default=1, ge=1, le=1, description="Choices per request: only 1 is served.")
    stop: str | list[str] | None = Field(default=None, description="Up to 4 stop strings.")
    seed: int | None = None
    user: str | None = None
    ignore_eos: bool = Field(default=False, description="vLLM extension: generate exactly max_tokens tokens.")
    min_tokens: int = Field(default=0, ge=0, description="vLLM extension: at least this many tokens.")
    vllm_xargs: dict[str, Any] | None = Field(default=None, description="vLLM extension: extra_args; "
                                              "`program_id` names the program.")
    agent_hint: dict[str, Any] | None = Field(default=None, description="vLLM RFC #52113: `session_id` "
                                              "names the program.")
    prompt_cache_key: str | None = Field(default=None, description="OpenAI: names the program here.")

    @field_validator("stop")
    @classmethod
    def _at_most_four(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and len(value) > 4:
            raise ValueError(f"at most 4 stop strings, got {len(value)}")
        return value

    def stop_strings(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class ChatCompletionRequest(_Sampling):
    """POST /v1/chat/completions."""

    messages: list[ChatMessage] = Field(min_length=1, description="The conversation so far.")
    max_tokens: int | None = Field(default=None, ge=1, description="Most tokens to generate.")
    max_completion_tokens: int | None = Field(default=None, ge=1, description="Most tokens to generate.")
    tools: list[dict[str, Any]] | None = Field(default=None, description="Tools the model may call.")
    tool_choice: str | dict[str, Any] | None = None

    def output_limit(self) -> int:
        return self.max_completion_tokens or self.max_tokens or DEFAULT_MAX_TOKENS


class CompletionRequest(_Sampling):
    """POST /v1/completions."""

    prompt: str | list[str] = Field(description="One prompt (a list of one string is accepted).")
    max_tokens: int = Field(default=DEFAULT_COMPLETION_MAX_TOKENS, ge=1, description="Most tokens to generate.")
    echo: bool = Field(default=False, description="Prepend the prompt to the text.")

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError(f"exactly one prompt is served per request, got {len(value)}")
        if not (value if isinstance(value, str) else value[0]):
            raise ValueError("the prompt is empty")
        return value

    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]

    def output_limit(self) -> int:
        return self.max_tokens
