"""`text_to_tokens` computes long texts with numpy tables: the ids must be those of one zlib CRC-32
per 4 bytes, the definition, for every text (short, long, any characters, any tail length)."""

from __future__ import annotations

import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from agentrt.engine_adapters.base import text_to_tokens


def _by_definition(text: str, vocab_size: int) -> tuple[int, ...]:
    data = text.encode()
    return tuple(zlib.crc32(data[i:i + 4]) % vocab_size for i in range(0, len(data), 4))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=1500), st.sampled_from([32000, 50257, 151936]))
def test_ids_are_one_crc32_per_four_bytes(text: str, vocab_size: int) -> None:
    assert text_to_tokens(text, vocab_size).ids == _by_definition(text, vocab_size)


def test_long_text_tail_of_each_length() -> None:
    base = "tool output: é ✓ " * 100  # over the vectorized path's threshold
    for tail in range(4):
        text = base + "x" * tail
        assert len(text_to_tokens(text)) == -(-len(text.encode()) // 4)
        assert text_to_tokens(text).ids == _by_definition(text, 32000)
