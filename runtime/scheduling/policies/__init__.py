"""Scheduling policies: one class each behind `PolicyName` and `make_policy`."""

from __future__ import annotations

from agentrt.runtime.scheduling.errors import UnknownNameError
from agentrt.runtime.scheduling.policies.agentrt import AgentRTPolicy
from agentrt.runtime.scheduling.policies.atlas import ATLASPolicy
from agentrt.runtime.scheduling.policies.base import CallPhase, CallState, PinQuery, PinState, Policy, ProgramState
from agentrt.runtime.scheduling.policies.config import PolicyConfig, PolicyName
from agentrt.runtime.scheduling.policies.continuum import ContinuumPolicy
from agentrt.runtime.scheduling.policies.fcfs import FCFSPolicy
from agentrt.runtime.scheduling.policies.gittins import GittinsPolicy
from agentrt.runtime.scheduling.policies.mlfq import MLFQPolicy
from agentrt.runtime.scheduling.policies.oracle import OraclePolicy
from agentrt.runtime.scheduling.policies.plas import PLASPolicy

POLICY_CLASSES: dict[PolicyName, type[Policy]] = {
    PolicyName.FCFS: FCFSPolicy,
    PolicyName.PLAS: PLASPolicy,
    PolicyName.ATLAS: ATLASPolicy,
    PolicyName.MLFQ: MLFQPolicy,
    PolicyName.CONTINUUM: ContinuumPolicy,
    PolicyName.AGENTRT: AgentRTPolicy,
    PolicyName.GITTINS: GittinsPolicy,
    PolicyName.ORACLE: OraclePolicy,
}


def policy_config(config: PolicyConfig | PolicyName | str) -> PolicyConfig:
    """A `PolicyConfig` from a config, an enum member or a name (default settings).

    Raises UnknownNameError (listing the valid names) for an unknown name."""
    if isinstance(config, PolicyConfig):
        return config
    try:
        return PolicyConfig(name=PolicyName(config))
    except ValueError as exc:
        raise UnknownNameError("policy", str(config), [n.value for n in PolicyName]) from exc


def make_policy(config: PolicyConfig | PolicyName | str) -> Policy:
    """The policy a config (or a bare name) asks for. Raises UnknownNameError for an unknown name."""
    config = policy_config(config)
    return POLICY_CLASSES[config.name](config)


__all__ = ["POLICY_CLASSES", "AgentRTPolicy", "ATLASPolicy", "CallPhase", "CallState", "ContinuumPolicy",
           "FCFSPolicy", "GittinsPolicy", "MLFQPolicy", "OraclePolicy", "PLASPolicy", "PinQuery", "PinState", "Policy",
           "PolicyConfig", "PolicyName", "ProgramState", "make_policy", "policy_config"]
