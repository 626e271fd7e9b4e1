"""The scheduling core: program-level scheduling decisions, shared by every engine.

`ProgramScheduler` hosts one `Policy` (one class each in `policies/`), the `PinTable` with its
Continuum TTL rule (`pinning.py`), and the tool-latency predictor that feeds the TTL
(`predictor.py`). `SchedHints` is the per-call input the program-side runtime computes.

This package imports nothing else of the project (an import-linter contract in pyproject.toml
checks it): engines and the program-side `Runtime` both depend downward on it, never the reverse.
"""

from __future__ import annotations

from agentrt.runtime.scheduling.decisions import Decision, DecisionKind, DecisionLog
from agentrt.runtime.scheduling.errors import AgentRTError, ConfigError, UnknownNameError
from agentrt.runtime.scheduling.hints import SchedHints
from agentrt.runtime.scheduling.pinning import PinQuery, PinState, PinTable, choose_ttl, cost_rate
from agentrt.runtime.scheduling.policies import (CallPhase, CallState, Policy, PolicyConfig, PolicyName, ProgramState,
                                                 make_policy, policy_config)
from agentrt.runtime.scheduling.predictor import PredictorStats, ToolLatencyPredictor
from agentrt.runtime.scheduling.scheduler import ProgramScheduler, SchedulerStats

__all__ = ["AgentRTError", "CallPhase", "CallState", "ConfigError", "Decision", "DecisionKind", "DecisionLog", "PinQuery", "PinState", "PinTable", "Policy",
           "PolicyConfig", "PolicyName", "PredictorStats", "ProgramScheduler", "ProgramState", "SchedHints",
           "SchedulerStats", "ToolLatencyPredictor", "UnknownNameError", "choose_ttl", "cost_rate", "make_policy",
           "policy_config"]
