"""The offline Qwen tokenizer: exact round trip, Qwen ids for kept ranks, special tokens as single ids."""

from __future__ import annotations

import pytest

from models.tokenizer import (
    QWEN_PLAIN_ADDED_TOKENS,
    QWEN_SPECIAL_TOKENS,
    RSA2VA_SPECIAL_TOKENS,
    build_qwen_tokenizer,
)

TEXTS = [
    "What is the red square left of <obj1> [SEG]?",
    "<think>café ÜÖ 你好 — naïve 😀\n\n  tabs\tand  spaces</think>",
    "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Q?<|im_end|>",
]


@pytest.fixture(scope="module")
def tok():
    return build_qwen_tokenizer(8192)


@pytest.mark.parametrize("text", TEXTS)
def test_round_trip_exact(tok, text):
    assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_vocabulary_layout(tok):
    added = QWEN_SPECIAL_TOKENS + QWEN_PLAIN_ADDED_TOKENS + RSA2VA_SPECIAL_TOKENS
    assert len(tok) == 8192 + len(added) == 8223
    assert sorted(tok.convert_tokens_to_ids(list(added))) == list(range(8192, 8223))


def test_kept_ranks_keep_qwen_ids(tok):
    # " is" and " the" are Qwen BPE ranks 374 and 279 (same ids as Qwen's tokenizer.json)
    assert tok(" is the", add_special_tokens=False)["input_ids"] == [374, 279]


def test_special_tokens_are_single_ids(tok):
    for token in ("[SEG]", "<|image_pad|>", "<think>", "</think>", "<|im_end|>"):
        assert tok(token, add_special_tokens=False)["input_ids"] == [tok.convert_tokens_to_ids(token)]
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"


def test_too_few_ranks():
    with pytest.raises(ValueError, match=r"tokenizer_bpe_ranks must be in \[256, 151643\], got 100"):
        build_qwen_tokenizer(100)
