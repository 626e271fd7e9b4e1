"""A served program's kind (program_kind.py): the X-Agentrt-Program-Kind header, else a digest of the
conversation's leading system message, else None; decided at the program's first request and sent
with every call's hints, so the scheduler's ProgramState has it (the gate's per-kind sizes)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentrt.engine_adapters.testing import RecordingEngine
from agentrt.exceptions import ServeError
from agentrt.serve.program_kind import MAX_KIND_LENGTH, declared_kind, program_kind, system_prompt_kind
from in_process import MODEL, serving, sim_server

pytestmark = pytest.mark.timeout(120)

AGENT = "You are a helpful assistant that can interact with a computer."
OTHER = "You answer questions about a function-calling API."


def chat(*messages: dict[str, Any]) -> dict[str, Any]:
    return {"model": MODEL, "messages": list(messages), "max_tokens": 4}


def system(text: str, role: str = "system") -> dict[str, Any]:
    return {"role": role, "content": text}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def test_the_header_wins_then_the_system_prompt_then_none() -> None:
    headers = {"x-agentrt-program-kind": "  mini-swe-agent "}
    assert program_kind(declared_kind(headers), [system(AGENT), user("task 1")]) == "mini-swe-agent"
    by_prompt = program_kind(declared_kind({}), [system(AGENT), user("task 1")])
    assert by_prompt is not None and by_prompt.startswith("system:") and len(by_prompt) == len("system:") + 12
    assert program_kind(declared_kind({"x-agentrt-program-kind": " "}), [user("task 1")]) is None
    assert program_kind(None, [user("task"), system(AGENT)]) is None  # not leading: no kind


def test_one_system_prompt_is_one_kind_whatever_the_task_and_content_shape() -> None:
    kind = system_prompt_kind([system(AGENT), user("task 1")])
    assert system_prompt_kind([system(AGENT), user("task 2"), {"role": "assistant", "content": "x"}]) == kind
    assert system_prompt_kind([system(AGENT, role="developer"), user("task 3")]) == kind
    assert system_prompt_kind([{"role": "system", "content": [{"type": "text", "text": AGENT}]}]) == kind
    assert system_prompt_kind([system(OTHER), user("task 1")]) not in (kind, None)
    assert system_prompt_kind([system("   "), user("task")]) is None


def test_a_bad_header_is_rejected_naming_the_limit() -> None:
    assert declared_kind({"x-agentrt-program-kind": "k" * MAX_KIND_LENGTH}) == "k" * MAX_KIND_LENGTH
    with pytest.raises(ServeError, match=f"at most {MAX_KIND_LENGTH}") as long:
        declared_kind({"x-agentrt-program-kind": "k" * (MAX_KIND_LENGTH + 1)})
    with pytest.raises(ServeError, match="printable") as unprintable:
        declared_kind({"x-agentrt-program-kind": "swe\x07agent"})
    assert long.value.status == unprintable.value.status == 400


def test_served_programs_send_their_kind_with_every_call() -> None:
    engine = RecordingEngine()

    async def main() -> dict[str, Any]:
        out: dict[str, Any] = {}
        async with serving(sim_server(lambda: engine)) as client:
            async def turns(name: str, *first: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                one = await client.post("/v1/chat/completions", json=chat(*first), headers=headers)
                answer = one.json()["choices"][0]["message"]
                two = await client.post("/v1/chat/completions", json=chat(*first, answer, user("go on")))
                assert one.headers["x-agentrt-program"] == two.headers["x-agentrt-program"]  # one program, 2 calls
                out[name] = one.headers["x-agentrt-program"]

            await turns("header", system(AGENT), user("task 1"), headers={"X-Agentrt-Program-Kind": "swe"})
            await turns("agent-1", system(AGENT), user("task 1"))
            await turns("agent-2", system(AGENT), user("task 2"))
            await turns("other", system(OTHER), user("task 1"))
            await turns("none", user("task 1"))
            completion = await client.post("/v1/completions", json={"model": MODEL, "prompt": "p", "max_tokens": 2},
                                           headers={"X-Agentrt-Program-Kind": "completer"})
            out["completion"] = completion.headers["x-agentrt-program"]
            out["listed"] = {p["id"]: p["kind"] for p in (await client.get("/v1/programs")).json()["data"]}
        return out

    programs = asyncio.run(main())
    kinds: dict[str, list[str | None]] = {}
    for request in engine.requests:
        kinds.setdefault(request.program_id, []).append(request.hints.program_kind)
    by_name = {name: kinds[programs[name]] for name in ("header", "agent-1", "agent-2", "other", "none", "completion")}
    agent = by_name["agent-1"][0]
    assert agent is not None and agent.startswith("system:")
    assert by_name == {"header": ["swe", "swe"], "agent-1": [agent, agent], "agent-2": [agent, agent],
                       "other": by_name["other"], "none": [None, None], "completion": ["completer"]}
    assert by_name["other"][0] == by_name["other"][1] not in (agent, None)
    assert programs["listed"][programs["header"]] == "swe" and programs["listed"][programs["none"]] is None


def test_a_too_long_kind_header_is_a_400_that_says_the_limit_and_registers_nothing() -> None:
    engine = RecordingEngine()

    async def main() -> tuple[Any, Any, Any]:
        async with serving(sim_server(lambda: engine)) as client:
            bad = await client.post("/v1/chat/completions", json=chat(user("task")),
                                    headers={"X-Agentrt-Program-Kind": "k" * (MAX_KIND_LENGTH + 1)})
            listed = (await client.get("/v1/programs")).json()["data"]
            good = await client.post("/v1/chat/completions", json=chat(user("task")),
                                     headers={"X-Agentrt-Program-Kind": "k" * MAX_KIND_LENGTH})
        return bad, listed, good

    bad, listed, good = asyncio.run(main())
    error = bad.json()["error"]
    assert bad.status_code == 400 and (error["param"], error["code"]) == ("X-Agentrt-Program-Kind", "invalid_program_kind")
    assert f"at most {MAX_KIND_LENGTH}" in error["message"] and f"is {MAX_KIND_LENGTH + 1} characters" in error["message"]
    assert listed == [] and good.status_code == 200 and len(engine.requests) == 1


def test_the_kind_reaches_the_simulated_engines_scheduler() -> None:
    async def main() -> tuple[str | None, str | None]:
        server = sim_server()
        async with serving(server) as client:
            named = await client.post("/v1/chat/completions", json=chat(system(AGENT), user("task")),
                                      headers={"X-Agentrt-Program-Kind": "swe"})
            inferred = await client.post("/v1/chat/completions", json=chat(system(AGENT), user("task")))

            def kinds(engine: Any) -> tuple[str | None, str | None]:
                programs = engine._started().scheduler.programs  # the scheduler's own ProgramState
                return (programs[named.headers["x-agentrt-program"]].kind,
                        programs[inferred.headers["x-agentrt-program"]].kind)

            return await server.engine.read(kinds)  # type: ignore[no-any-return]

    assert asyncio.run(main()) == ("swe", system_prompt_kind([system(AGENT)]))
