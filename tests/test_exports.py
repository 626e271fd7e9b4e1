"""The public API is what `agentrt.__all__` says, and nothing else is re-exported by accident."""

from __future__ import annotations

import agentrt

EXPECTED = {
    "AgentRTError", "CallError", "CallFuture", "CallKind", "CallRecord", "CallStatus", "Completion",
    "ConfigError", "DeadlockError", "DecorationError", "Engine", "EngineDiedError", "EngineError", "GenerationRequest", "GenerationResult",
    "LLMCallError", "NoRuntimeError", "Observer", "PolicyConfig", "PolicyName", "Program",
    "ProgramCancelledError", "ProgramFailedError", "ProgramHandle", "ProgramRecord", "ProgramStatus",
    "ProgramTimeoutError", "RunDeadlineError",
    "PromptTooLongError", "Runtime", "SandboxError", "SchedHints", "Tokens", "Tool", "ToolCallError",
    "ToolTimeoutError", "TraceFormatError", "UnknownNameError", "gather", "llm", "program", "run", "tool",
    "__version__",
}


def test_exported_names_are_pinned() -> None:
    assert set(agentrt.__all__) == EXPECTED
    for name in EXPECTED:
        assert hasattr(agentrt, name), name


def test_subpackages_live_under_the_agentrt_namespace() -> None:
    import agentrt.engine_adapters
    import agentrt.programs
    import agentrt.runtime
    import agentrt.tools

    assert agentrt.runtime.__name__ == "agentrt.runtime"
    assert agentrt.tools.__file__.replace("\\", "/").endswith("tools/__init__.py")


SCHEDULING_EXPECTED = {
    "AgentRTError", "CallPhase", "CallState", "ConfigError", "Decision", "DecisionKind", "DecisionLog", "PinQuery", "PinState", "PinTable", "Policy",
    "PolicyConfig", "PolicyName", "PredictorStats", "ProgramScheduler", "ProgramState", "SchedHints",
    "SchedulerStats", "ToolLatencyPredictor", "UnknownNameError", "choose_ttl", "cost_rate", "make_policy",
    "policy_config",
}


def test_scheduling_core_exports_are_pinned() -> None:
    import agentrt.runtime.scheduling as core

    assert set(core.__all__) == SCHEDULING_EXPECTED
    # the errors the core raises are the ones the public API names
    assert core.UnknownNameError is agentrt.UnknownNameError and core.SchedHints is agentrt.SchedHints
