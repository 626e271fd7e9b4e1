"""`Tokens`: the same sum twice is one object (its block hashes computed once), equal to a fresh one."""

from __future__ import annotations

import gc
import pickle
import weakref

from agentrt.programs.tokens import Tokens


def test_the_same_sum_twice_is_one_object_with_the_hashes_of_a_fresh_one() -> None:
    prompt, output = Tokens.synthetic(100, key="p"), Tokens.synthetic(37, key="o")
    first = prompt + output
    assert prompt + output is first
    fresh = Tokens.synthetic(100, key="p") + Tokens.synthetic(37, key="o")
    assert fresh is not first
    assert first.block_hashes(16) == fresh.block_hashes(16) and len(first) == 137
    assert prompt + Tokens.synthetic(37, key="o") is not first  # another right operand: a new sum


def test_a_remembered_sum_is_not_kept_alive() -> None:
    prompt, output = Tokens.synthetic(40, key="p"), Tokens.synthetic(8, key="o")
    gone = weakref.ref(prompt + output)
    gc.collect()
    assert gone() is None
    again = prompt + output
    assert len(again) == 48 and again.block_hashes(16) == (Tokens.synthetic(40, key="p") + output).block_hashes(16)


def test_adding_nothing_is_the_operand_itself() -> None:
    prompt = Tokens.synthetic(10, key="p")
    assert prompt + Tokens.empty() is prompt
    assert Tokens.empty() + prompt is not None and len(Tokens.empty() + prompt) == 10


def test_tokens_pickle_after_a_sum_without_their_caches() -> None:
    prompt, output = Tokens.synthetic(100, key="p"), Tokens.synthetic(37, key="o")
    context = prompt + output + Tokens.of([1, 2, 3])
    context.block_hashes(16)
    for tokens in (prompt, context):  # `prompt` remembers its last sum (a weak reference)
        copy = pickle.loads(pickle.dumps(tokens))
        assert len(copy) == len(tokens) and copy.block_hashes(16) == tokens.block_hashes(16)
        assert copy.to_ids(1000) == tokens.to_ids(1000)
