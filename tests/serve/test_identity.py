"""Program identity: explicit names in their order of precedence, and inference by the hash chain."""

from __future__ import annotations

import json

import pytest

from agentrt.serve.identity import (EXPLICIT_SOURCES, INFERRED, NEW, ConversationIndex, IdentityResolver, chain,
                                    explicit_program_id)

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}


def _answer(command: str, call_id: str = "c1") -> dict[str, object]:
    return {"role": "assistant", "content": "running it",
            "tool_calls": [{"id": call_id, "type": "function",
                            "function": {"name": "bash", "arguments": json.dumps({"command": command})}}]}


def _all_conventions() -> tuple[dict[str, str], dict[str, object]]:
    headers = {"X-Agentrt-Program": "a", "X-Session-ID": "b", "x-fairness-id": "c"}
    body = {"prompt_cache_key": "d", "vllm_xargs": {"program_id": "e"}, "agent_hint": {"session_id": "f"}}
    return headers, body


def test_explicit_names_follow_the_documented_precedence() -> None:
    headers, body = _all_conventions()
    expected = ["a", "b", "c", "d", "e", "f"]
    for i, (where, path) in enumerate(EXPLICIT_SOURCES):
        named = explicit_program_id(headers, body)
        assert named is not None and named[0] == expected[i] and named[1] == f"{where}:{'.'.join(path)}"
        if where == "header":  # drop the winning convention: the next one must win
            headers = {k: v for k, v in headers.items() if k.lower() != path[0]}
        else:
            body = {k: v for k, v in body.items() if k != path[0]}
    assert explicit_program_id(headers, body) is None


def test_headers_match_case_insensitively_and_blank_names_do_not_count() -> None:
    assert explicit_program_id({"x-agentrt-program": " p7 "}, {}) == ("p7", "header:x-agentrt-program")
    assert explicit_program_id({"X-Agentrt-Program": "  "}, {"prompt_cache_key": "k"}) == ("k", "body:prompt_cache_key")


def test_a_request_extending_an_answer_continues_that_program() -> None:
    resolver = IdentityResolver()
    first = [SYSTEM, {"role": "user", "content": "fix the bug"}]
    ident, digests = resolver.resolve({}, {}, first)
    assert ident.source == NEW and ident.parent_call_id is None
    resolver.remember(digests, _answer("ls"), ident.program_id, "call-1")
    tool = {"role": "tool", "tool_call_id": "c1", "content": "a.py"}
    nxt, _ = resolver.resolve({}, {}, [*first, _answer("ls"), tool])
    assert (nxt.program_id, nxt.source, nxt.parent_call_id, nxt.num_parent_messages) == (
        ident.program_id, INFERRED, "call-1", 3)


def test_clients_reserializing_the_answer_still_match() -> None:
    resolver = IdentityResolver()
    first = [{"role": "user", "content": "task 1"}]
    ident, digests = resolver.resolve({}, {}, first)
    resolver.remember(digests, _answer("ls -la"), ident.program_id, "call-1")
    echoed = _answer("ls -la")
    echoed["tool_calls"][0]["function"]["arguments"] = '{ "command" :  "ls -la" }'  # type: ignore[index]
    echoed["content"] = [{"type": "text", "text": "running it"}]
    echoed["refusal"] = None
    nxt, _ = resolver.resolve({}, {}, [*first, echoed, {"role": "user", "content": "go on"}])
    assert nxt.program_id == ident.program_id and nxt.source == INFERRED


def test_different_conversations_are_different_programs() -> None:
    resolver = IdentityResolver()
    ids = set()
    for task in ("task 1", "task 2", "task 3"):
        ident, digests = resolver.resolve({}, {}, [SYSTEM, {"role": "user", "content": task}])
        resolver.remember(digests, _answer(f"echo {task}"), ident.program_id, f"{ident.program_id}.1")
        ids.add(ident.program_id)
    assert len(ids) == 3
    nxt, _ = resolver.resolve({}, {}, [SYSTEM, {"role": "user", "content": "task 2"}, _answer("echo task 2"),
                                       {"role": "user", "content": "next"}])
    assert nxt.source == INFERRED and nxt.parent_call_id == "prog-2.1"


def test_an_edited_answer_starts_a_new_program() -> None:
    resolver = IdentityResolver()
    first = [{"role": "user", "content": "task"}]
    ident, digests = resolver.resolve({}, {}, first)
    resolver.remember(digests, _answer("ls"), ident.program_id, "call-1")
    other, _ = resolver.resolve({}, {}, [*first, _answer("rm -rf /"), {"role": "user", "content": "x"}])
    assert other.source == NEW and other.program_id != ident.program_id


def test_a_named_program_finds_its_parent_but_not_another_programs() -> None:
    resolver = IdentityResolver()
    first = [{"role": "user", "content": "task"}]
    _, digests = resolver.resolve({}, {}, first)
    resolver.remember(digests, _answer("ls"), "inferred-one", "call-1")
    convo = [*first, _answer("ls"), {"role": "user", "content": "x"}]
    mine, _ = resolver.resolve({"X-Agentrt-Program": "inferred-one"}, {}, convo)
    assert (mine.program_id, mine.parent_call_id, mine.explicit) == ("inferred-one", "call-1", True)
    theirs, _ = resolver.resolve({"X-Agentrt-Program": "someone-else"}, {}, convo)
    assert (theirs.program_id, theirs.parent_call_id) == ("someone-else", None)


def test_the_chain_has_one_digest_per_prefix_and_shares_prefixes() -> None:
    msgs = [{"role": "user", "content": str(i)} for i in range(50)]
    full = chain(msgs)
    assert len(full) == 50 and len(set(full)) == 50
    assert chain(msgs[:20]) == full[:20]
    assert chain(msgs[20:], start=full[19]) == full[20:]


def test_forgetting_a_program_stops_its_continuation_and_the_index_is_bounded() -> None:
    index = ConversationIndex(max_entries=2)
    index.add(b"a", "p1", "c1")
    index.add(b"b", "p2", "c2")
    index.add(b"c", "p3", "c3")
    assert len(index) == 2 and index.match([b"a"]) is None and index.match([b"b"]) == (1, "p2", "c2", True)
    index.forget_program("p2")
    assert index.match([b"b", b"x"]) is None and index.match([b"c"]) == (1, "p3", "c3", True)
    with pytest.raises(ValueError, match="max_entries"):
        ConversationIndex(0)


def test_a_retry_without_the_answer_continues_the_program_and_the_answer_wins_when_present() -> None:
    resolver = IdentityResolver()
    first = [SYSTEM, {"role": "user", "content": "task"}]
    ident, digests = resolver.resolve({}, {}, first)
    resolver.remember_request(digests, ident.program_id, "call-1")
    resolver.remember(digests, _answer("ls"), ident.program_id, "call-1")
    error = {"role": "user", "content": "No tool calls found in the response."}
    retry, _ = resolver.resolve({}, {}, [*first, error])  # the agent dropped the answer it could not parse
    assert (retry.program_id, retry.parent_call_id, retry.num_parent_messages, retry.parent_answered) == (
        ident.program_id, "call-1", 2, False)
    nxt, _ = resolver.resolve({}, {}, [*first, _answer("ls"), error])
    assert (nxt.num_parent_messages, nxt.parent_answered) == (3, True)


class _CountingDict(dict):  # type: ignore[type-arg]
    lookups = 0

    def get(self, key, default=None):  # type: ignore[no-untyped-def]
        _CountingDict.lookups += 1
        return super().get(key, default)


def test_resolving_costs_one_lookup_per_message_however_many_programs_are_known() -> None:
    index = ConversationIndex()
    index._entries = _CountingDict()  # type: ignore[assignment]
    resolver = IdentityResolver(index)
    for i in range(2000):  # 2,000 live conversations
        ident, digests = resolver.resolve({}, {}, [SYSTEM, {"role": "user", "content": f"task {i}"}])
        resolver.remember(digests, _answer(f"ls {i}"), ident.program_id, f"c{i}")
    _CountingDict.lookups = 0
    convo = [SYSTEM, {"role": "user", "content": "unseen"}, *({"role": "user", "content": str(k)} for k in range(8))]
    ident, _ = resolver.resolve({}, {}, convo)
    assert ident.source == NEW and _CountingDict.lookups == len(convo) - 1


def test_the_package_exports_its_public_names() -> None:
    import agentrt.serve as serve

    assert set(serve.__all__) == {"ConversationIndex", "EndReason", "Identity", "IdentityResolver", "ProgramTable",
                                  "ServedCall", "ServedProgram", "explicit_program_id"}
    assert all(hasattr(serve, name) for name in serve.__all__)
