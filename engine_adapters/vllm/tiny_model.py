"""`write_model(folder, shape)`: a random-weight Llama with a byte-level BPE tokenizer.

For tests and CPU benchmarks: it loads in vLLM in seconds and needs no download. The tokenizer
is trained locally on generated text (vocabulary 512, six special tokens). Three shapes (`SHAPES`):
- `tiny` (tests): 2 layers, hidden size 128, head_dim 64 (vLLM's CPU attention kernels reject
  smaller heads). A step costs its fixed overhead whatever its tokens: on a CPU, re-prefilling a
  context costs almost nothing, so scheduling that saves re-prefill is invisible with it.
- `bench` (CPU benchmarks): wide enough that a prefill's time grows with its tokens and a typical
  prompt's prefill costs at least 10x a step's fixed overhead on a 2-core CPU (measured: see
  docs/vllm.md), small enough that a benchmark run takes minutes.
- `bench-wide` (CPU benchmarks on a fast CPU): 2.2x `bench`'s cost per prefill token, so that
  re-prefilling a context costs about a recorded tool gap where `bench` made it cheap (docs/vllm.md,
  "Session 6, experiment"); `benchmarks/vllm_cpu.py run --model DIR` takes its folder.
The weights are random, so the text it writes is noise; token counts, timing and caching are real.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VOCAB_SIZE = 512
SPECIAL_TOKENS = ("<|pad|>", "<|bos|>", "<|eos|>", "<|user|>", "<|assistant|>", "<|system|>")
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
MAX_POSITIONS = 2048
_WORDS = (
    "the agent calls a tool and waits for the result then it plans the next step search fetch read write "
    "file code test run python shell json result error program call request token cache prefix block "
    "schedule priority queue time alpha beta gamma delta one two three four five six seven eight nine ten "
    "user assistant system function arguments name value list dict true false null"
).split()


@dataclass(frozen=True, slots=True)
class LlamaShape:
    """The sizes of a Llama written by `write_model` (head_dim is 64 throughout)."""

    num_layers: int
    hidden_size: int
    intermediate_size: int

    def __post_init__(self) -> None:
        if self.num_layers < 1 or self.intermediate_size < 1 or self.hidden_size < 64 or self.hidden_size % 64:
            raise ValueError(f"{self}: needs num_layers >= 1, intermediate_size >= 1 and hidden_size a "
                             "multiple of 64 (head_dim 64)")

    @property
    def num_heads(self) -> int:
        return self.hidden_size // 64


SHAPES = {"tiny": LlamaShape(num_layers=2, hidden_size=128, intermediate_size=256),
          "bench": LlamaShape(num_layers=4, hidden_size=512, intermediate_size=1536),
          "bench-wide": LlamaShape(num_layers=4, hidden_size=768, intermediate_size=2304)}


def write_tiny_model(folder: str | Path, *, seed: int = 0) -> Path:
    """`write_model(folder, SHAPES["tiny"])`: the test model."""
    return write_model(folder, SHAPES["tiny"], seed=seed)


def write_model(folder: str | Path, shape: LlamaShape, *, seed: int = 0) -> Path:
    """Write a random-weight Llama of `shape` and its tokenizer into `folder` (created if needed);
    returns its path. Raises OSError if the folder cannot be written."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer(seed)
    _save_tokenizer(tokenizer, out)
    ids = {name: tokenizer.token_to_id(f"<|{name}|>") for name in ("bos", "eos", "pad")}
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=VOCAB_SIZE, hidden_size=shape.hidden_size, intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers, num_attention_heads=shape.num_heads, num_key_value_heads=shape.num_heads,
        head_dim=64, max_position_embeddings=MAX_POSITIONS,
        rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=ids["bos"], eos_token_id=ids["eos"],
        pad_token_id=ids["pad"], dtype="float32")
    LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)
    (out / "generation_config.json").write_text(json.dumps({f"{k}_token_id": v for k, v in ids.items()}))
    return out


def _corpus(num_lines: int, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    for i in range(num_lines):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(4, 20))]
        if i % 5 == 0:
            yield json.dumps({"name": words[0], "arguments": {words[1]: words[2:5]}})
        else:
            yield " ".join(words) + rng.choice(".?!:,") + f" {i}"


def _train_tokenizer(seed: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, special_tokens=list(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # all 256 bytes
    tokenizer.train_from_iterator(_corpus(4000, seed), trainer=trainer)
    return tokenizer


def _save_tokenizer(tokenizer: Any, out: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<|bos|>", eos_token="<|eos|>",
                                 pad_token="<|pad|>", model_max_length=MAX_POSITIONS)
    hf.chat_template = CHAT_TEMPLATE
    hf.save_pretrained(out)
    # transformers 5 writes the template to chat_template.jinja only and names its own backend
    # class; older loaders (and vLLM's) read both from tokenizer_config.json.
    path = out / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config.update(tokenizer_class="PreTrainedTokenizerFast", bos_token="<|bos|>", eos_token="<|eos|>",
                  pad_token="<|pad|>", chat_template=CHAT_TEMPLATE, model_max_length=MAX_POSITIONS,
                  add_bos_token=False)
    path.write_text(json.dumps(config, indent=2))
