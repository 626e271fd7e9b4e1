"""`tasks.start_soon`: straight into the nursery on trio, through anyio elsewhere; tasks run and fail alike."""

from __future__ import annotations

import anyio
import pytest

from agentrt.runtime import tasks

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["trio", "asyncio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def test_tasks_run_and_the_fast_path_is_taken_on_trio(anyio_backend: str) -> None:
    done: list[str] = []

    async def task(name: str) -> None:
        await anyio.sleep(0)
        done.append(name)

    async with anyio.create_task_group() as tg:
        tasks.start_soon(tg, task, "a", name="agentrt:a")
        tasks.start_soon(tg, task, "b")
        assert tasks.bypasses_anyio(tg) is (anyio_backend == "trio")  # an anyio release that moves it fails here
    assert sorted(done) == ["a", "b"]


async def test_a_failing_task_cancels_its_siblings_and_raises_from_the_task_group(anyio_backend: str) -> None:
    cancelled: list[bool] = []

    async def sibling() -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(True)
            raise

    async def failing() -> None:
        await anyio.sleep(0)
        raise ValueError("boom")

    with pytest.raises(ExceptionGroup) as caught:
        async with anyio.create_task_group() as tg:
            tasks.start_soon(tg, sibling)
            tasks.start_soon(tg, failing)
    assert caught.group_contains(ValueError, match="boom")
    assert cancelled == [True]
