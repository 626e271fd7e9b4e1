"""`PromptIndex`: the longest registered text a /v1/completions prompt starts with, equal to a
brute-force scan on generated texts; and `IdentityResolver.resolve_prompt` built on it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agentrt.serve.identity import INFERRED, NEW, IdentityResolver
from agentrt.serve.prompt_index import BLOCK, PromptIndex

# few distinct characters and lengths around the block size: prefixes and shared blocks are common
_text = st.text(alphabet="ab", min_size=0, max_size=3 * BLOCK + 5)


@settings(max_examples=200, deadline=None)
@given(registered=st.lists(_text, min_size=1, max_size=8), extra=_text, pick=st.integers(min_value=0))
def test_match_is_the_longest_registered_prefix(registered: list[str], extra: str, pick: int) -> None:
    index = PromptIndex()
    for i, text in enumerate(registered):
        index.add(text, f"p{i}", f"c{i}", answered=i % 2 == 0)
    prompt = registered[pick % len(registered)] + extra
    found = index.match(prompt)
    prefixes = [(len(t), i) for i, t in enumerate(registered) if prompt.startswith(t)]
    assert found is not None  # the picked text is a prefix
    length = max(prefixes)[0]
    assert found.num_chars == length
    winner = int(found.call_id[1:])  # the last registered of equal texts wins
    assert registered[winner] == prompt[:length] and found.answered == (winner % 2 == 0)
    assert max(i for n, i in prefixes if n == length) == winner


def test_a_prompt_that_differs_inside_a_registered_text_does_not_match_it() -> None:
    index = PromptIndex()
    text = "x" * (2 * BLOCK + 10)
    index.add(text, "p", "c", answered=True)
    assert index.match(text[:-1] + "y" + "more") is None
    assert index.match(text[:BLOCK]) is None  # shorter than the registered text
    hit = index.match(text + "more")
    assert hit is not None and (hit.num_chars, hit.program_id) == (len(text), "p")


def test_forgetting_a_program_and_the_bound() -> None:
    index = PromptIndex(max_entries=2)
    index.add("one", "p1", "c1", answered=True)
    index.add("two", "p2", "c2", answered=True)
    index.add("three", "p3", "c3", answered=True)  # drops the oldest
    assert len(index) == 2 and index.match("one more") is None
    index.forget_program("p2")
    assert index.match("two more") is None and index.match("three more") is not None


def test_resolve_prompt_continues_a_program_through_its_completions() -> None:
    resolver = IdentityResolver()
    prompt = "task: " + "fix the bug " * 40
    first = resolver.resolve_prompt({}, {}, prompt)
    assert first.source == NEW
    resolver.remember_prompt(prompt, None, first.program_id, "c1")
    resolver.remember_prompt(prompt, " I will run the tests.", first.program_id, "c1")
    follow = prompt + " I will run the tests." + "\nobservation: 2 failed\n"
    second = resolver.resolve_prompt({}, {}, follow)
    assert (second.program_id, second.source, second.parent_call_id) == (first.program_id, INFERRED, "c1")
    assert second.num_parent_messages == len(prompt + " I will run the tests.") and second.parent_answered
    retry = resolver.resolve_prompt({}, {}, prompt + "\nyour answer was malformed")
    assert (retry.program_id, retry.parent_answered) == (first.program_id, False)
    other = resolver.resolve_prompt({}, {}, "task: something else entirely")
    assert other.source == NEW and other.program_id != first.program_id
    named = resolver.resolve_prompt({"X-Agentrt-Program": "mine"}, {}, follow)
    assert (named.program_id, named.parent_call_id) == ("mine", None)  # another program's call is not a parent
    resolver.forget_program(first.program_id)
    assert resolver.resolve_prompt({}, {}, follow).source == NEW
