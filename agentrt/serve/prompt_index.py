"""`PromptIndex`: which earlier /v1/completions call a prompt continues.

A completions client (a raw-prompt agent loop, an RL rollout) sends the whole text so far: its next
prompt starts with the previous prompt plus the completion it got. So a prompt continues the call
whose registered text (its prompt plus completion, or its prompt alone for a retry) is the longest
prefix of it.

Texts are hashed in blocks of `BLOCK` characters, chained (`d[k] = H(d[k-1], block k)`), as a KV
cache hashes token blocks. A registered text of length L is filed under the digest of its first
L // BLOCK blocks, with its tail (the fewer than BLOCK characters after them). A lookup hashes the
prompt's blocks once (O(length)) and, from the longest down, compares tails only under digests
that match. Alternatives considered: comparing against every live text (O(programs x length) per
request), and a character trie (exact, but memory grows with every character of every prompt).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

BLOCK = 256  # characters per hashed block

Digest = bytes


@dataclass(slots=True, frozen=True)
class PromptMatch:
    """The longest registered text a prompt starts with."""

    num_chars: int  # its length: the prompt's first num_chars characters are that text
    program_id: str
    call_id: str
    answered: bool  # the text ends with the call's completion (else: with its prompt)


def block_chain(text: str) -> list[Digest]:
    """`out[k]` is the digest of the first k blocks (`out[0]`: none)."""
    out = [b""]
    for start in range(0, len(text) - len(text) % BLOCK, BLOCK):  # blocks of characters, not bytes
        out.append(hashlib.blake2b(out[-1] + text[start:start + BLOCK].encode(), digest_size=16).digest())
    return out


class PromptIndex:
    """Registered texts -> (program, call, answered), at most `max_entries` (oldest dropped first)."""

    def __init__(self, max_entries: int = 1 << 18) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries={max_entries} must be >= 1")
        self.max_entries = max_entries
        self._entries: dict[tuple[Digest, str], tuple[str, str, bool]] = {}  # (digest, tail) -> entry
        self._tails: dict[Digest, set[str]] = {}
        self._program_keys: dict[str, list[tuple[Digest, str]]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, text: str, program_id: str, call_id: str, answered: bool) -> None:
        num_blocks = len(text) // BLOCK
        key = (block_chain(text[:num_blocks * BLOCK])[-1], text[num_blocks * BLOCK:])
        if key not in self._entries and len(self._entries) >= self.max_entries:
            self._drop(next(iter(self._entries)))
        self._entries[key] = (program_id, call_id, answered)
        self._tails.setdefault(key[0], set()).add(key[1])
        self._program_keys.setdefault(program_id, []).append(key)

    def match(self, prompt: str) -> PromptMatch | None:
        """The longest registered text that `prompt` starts with (None: none)."""
        digests = block_chain(prompt)
        for k in range(len(digests) - 1, -1, -1):
            start = k * BLOCK
            tails = [t for t in self._tails.get(digests[k], ()) if prompt.startswith(t, start)]
            if tails:
                tail = max(tails, key=len)
                program_id, call_id, answered = self._entries[(digests[k], tail)]
                return PromptMatch(start + len(tail), program_id, call_id, answered)
        return None

    def forget_program(self, program_id: str) -> None:
        for key in self._program_keys.pop(program_id, ()):
            if self._entries.get(key, ("",))[0] == program_id:
                self._drop(key)

    def _drop(self, key: tuple[Digest, str]) -> None:
        del self._entries[key]
        tails = self._tails[key[0]]
        tails.discard(key[1])
        if not tails:
            del self._tails[key[0]]
