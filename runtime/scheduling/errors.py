"""The errors the scheduling core raises, and their bases; `agentrt.exceptions` re-exports them.

They live here, not in `agentrt.exceptions`, so that the core imports nothing else of the project.
"""

from __future__ import annotations


class AgentRTError(Exception):
    """Base class of every error agentrt raises on purpose."""


class ConfigError(AgentRTError, ValueError):
    """A configuration value is invalid; the message names the value and the allowed range."""


class UnknownNameError(ConfigError, KeyError):
    """A name (policy, profile, tool, engine) is not known; the message lists the valid names."""

    def __init__(self, kind: str, name: str, valid: list[str] | tuple[str, ...]) -> None:
        self.kind, self.name, self.valid = kind, name, tuple(valid)
        super().__init__(f"unknown {kind} {name!r}; valid {_plural(kind)}: {', '.join(self.valid)}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


def _plural(noun: str) -> str:
    return noun[:-1] + "ies" if noun.endswith("y") else noun + "s"


class NoLiveReplicaError(AgentRTError, RuntimeError):
    """Every engine replica behind the router is dead; restart them (or the run) to continue."""
