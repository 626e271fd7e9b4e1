"""Subcommands of the `agentrt` CLI, one module each."""
