"""`agentrt serve`: an OpenAI-compatible, program-aware server for agents that speak HTTP.

`identity` names each request's program (explicitly or inferred from its conversation),
`programs` keeps their calls, DAG and tool gaps, `service` does the per-call bookkeeping both
servers share, `app` is the simulator's FastAPI app, `vllm_server` wraps vLLM's own server.
"""

from __future__ import annotations

from agentrt.serve.identity import ConversationIndex, Identity, IdentityResolver, explicit_program_id
from agentrt.serve.programs import EndReason, ProgramTable, ServedCall, ServedProgram

__all__ = ["ConversationIndex", "EndReason", "Identity", "IdentityResolver", "ProgramTable", "ServedCall",
           "ServedProgram", "explicit_program_id"]
