"""agentrt: a serving runtime for agentic LLM programs.

Programs are async functions whose LLM and tool calls become futures in a per-program DAG; a
program-level scheduler inside the engine orders calls by the service each program has attained
and pins KV caches across tool calls when the predicted tool time makes it worth it.
"""

from __future__ import annotations

from agentrt.engine_adapters.base import Engine, GenerationRequest, GenerationResult, SchedHints
from agentrt.exceptions import (AgentRTError, CallError, ConfigError, DeadlockError, DecorationError, EngineDiedError,
                                EngineError, LLMCallError, NoRuntimeError, ProgramCancelledError, ProgramFailedError,
                                ProgramTimeoutError, PromptTooLongError, RunDeadlineError, SandboxError, ToolCallError,
                                ToolTimeoutError, TraceFormatError, UnknownNameError)
from agentrt.programs.decorators import Completion, Program, llm, program
from agentrt.programs.futures import CallFuture
from agentrt.programs.gather import gather
from agentrt.programs.records import CallKind, CallRecord, CallStatus, ProgramRecord, ProgramStatus
from agentrt.programs.tokens import Tokens
from agentrt.runtime.observer import Observer
from agentrt.runtime.scheduling.policies.config import PolicyConfig, PolicyName
from agentrt.runtime.runner import run
from agentrt.runtime.runtime import ProgramHandle, Runtime
from agentrt.tools.registry import Tool, tool

__version__ = "0.1.0"

__all__ = [
    "AgentRTError", "CallError", "CallFuture", "CallKind", "CallRecord", "CallStatus", "Completion",
    "ConfigError", "DeadlockError", "DecorationError", "Engine", "EngineDiedError", "EngineError", "GenerationRequest", "GenerationResult",
    "LLMCallError", "NoRuntimeError", "Observer", "PolicyConfig", "PolicyName", "Program",
    "ProgramCancelledError", "ProgramFailedError", "ProgramHandle", "ProgramRecord", "ProgramStatus",
    "ProgramTimeoutError", "RunDeadlineError",
    "PromptTooLongError", "Runtime", "SandboxError", "SchedHints", "Tokens", "Tool", "ToolCallError",
    "ToolTimeoutError", "TraceFormatError", "UnknownNameError", "gather", "llm", "program", "run", "tool",
    "__version__",
]
