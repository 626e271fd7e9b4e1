"""`RayEngine`: the engine protocol, forwarded to an `EngineHost` running in a Ray actor.

A call's exceptions come back as themselves (Ray wraps them in `RayTaskError`; the cause is
raised). An actor that is gone (killed, its process or node died) raises `EngineError`, which
`ReplicatedEngine` turns into `ReplicaDiedError` for the call and a dead replica for the router.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ray
from ray.exceptions import RayActorError, RayTaskError

from agentrt.engine_adapters.base import Engine, GenerationRequest, GenerationResult
from agentrt.exceptions import EngineError

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from agentrt.runtime.scheduling.policies.config import PolicyConfig


class RayEngine(Engine):
    """One replica: `actor` is a Ray actor handle of `EngineHost`; `kv_capacity_tokens` its KV size."""

    name = "ray"

    def __init__(self, actor: Any, kv_capacity_tokens: int, label: str = "ray") -> None:
        self.actor, self.kv_capacity_tokens, self.label = actor, kv_capacity_tokens, label
        self._stats: Any = None

    async def start(self, policy: PolicyConfig, task_group: TaskGroup) -> None:
        await self._call("start", policy)

    async def stop(self) -> None:
        try:
            self._stats = await self._call("statistics")
            await self._call("stop")
        except EngineError:  # already gone
            pass

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        result: GenerationResult = await self._call("generate", request)
        return result

    async def abort(self, call_id: str) -> None:
        await self._call("abort", call_id)

    async def release_program(self, program_id: str) -> None:
        await self._call("release_program", program_id)

    async def hint_tool(self, program_id: str, tool_name: str, gap_samples: tuple[float, ...]) -> None:
        await self._call("hint_tool", program_id, tool_name, gap_samples)

    def statistics(self) -> Any:
        """The hosted engine's statistics as of `stop` (None before)."""
        return self._stats

    async def _call(self, method: str, *args: Any) -> Any:
        try:
            return await getattr(self.actor, method).remote(*args)
        except RayActorError as exc:
            raise EngineError(f"{self.label}: its Ray actor is gone ({type(exc).__name__})") from exc
        except RayTaskError as exc:
            raise exc.cause from None


def remote_host() -> Any:
    """`EngineHost` as a Ray actor class (many concurrent calls, one asyncio loop)."""
    from agentrt.engine_adapters.ray.host import EngineHost

    return ray.remote(max_concurrency=10_000)(EngineHost)  # type: ignore[call-overload]
