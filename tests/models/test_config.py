"""Presets: YAML -> frozen dataclass, validation with errors that say what to fix."""

from __future__ import annotations

import dataclasses

import pytest

from models import load_preset, preset_names
from models.config import ModelPreset, preset_from_dict


def test_shipped_presets():
    assert preset_names() == ["2b", "4b", "4b-base", "8b", "tiny"]
    for name in preset_names():
        preset = load_preset(name)
        assert isinstance(preset, ModelPreset) and preset.name == name


def test_tiny_preset_values():
    p = load_preset("tiny")
    assert (p.init, p.tokenizer_bpe_ranks, p.sam_image_size, p.mask_loss_size) == ("random", 8192, 128, 64)
    assert p.policy.lora is None and p.policy.freeze_llm is False
    assert (p.loss.ce, p.loss.bce, p.loss.dice) == (1.0, 0.5, 2.0)  # Dice-heavy at random init (docs/learning.md)


def test_paper_preset_policy():
    """The authors' VRT SFT: from Sa2VA-Qwen3-VL-4B, LoRA on every LM Linear, embeddings frozen,
    point-sampled BCE 2.0 + Dice 0.5 on 5 mask slots, greedy 2048-token budget."""
    p = load_preset("4b")
    assert (
        p.init == "released"
        and p.released.repo == "ByteDance/Sa2VA-Qwen3-VL-4B"
        and p.released.revision is None
    )
    assert (p.policy.freeze_llm, p.policy.freeze_vision, p.policy.freeze_sam_encoder) == (True, True, True)
    assert (p.policy.train_mask_decoder, p.policy.train_projection, p.policy.train_embeddings) == (
        True,
        True,
        False,
    )
    assert (p.policy.lora.r, p.policy.lora.alpha, p.policy.lora.dropout) == (128, 256, 0.05)
    assert p.policy.lora.target_modules == ()
    assert (p.min_pixels, p.max_pixels, p.sam_image_size, p.max_new_tokens) == (
        512 * 28 * 28,
        2048 * 28 * 28,
        1024,
        2048,
    )
    loss = p.loss
    assert (loss.ce, loss.bce, loss.dice, loss.mask_loss, loss.num_points) == (1.0, 2.0, 0.5, "points", 12544)
    assert (loss.oversample_ratio, loss.importance_ratio, loss.mask_slots) == (3.0, 0.75, 5)


def test_base_preset_keeps_raw_towers():
    p = load_preset("4b-base")
    assert p.init == "pretrained"
    assert p.vlm.repo == "Qwen/Qwen3-VL-4B-Instruct" and p.sam.repo == "facebook/sam2.1-hiera-large"
    assert p.policy.train_embeddings is True and p.loss.mask_loss == "points" and p.max_new_tokens == 2048


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        load_preset("tiny").sam_image_size = 3


def test_unknown_name_lists_valid_ones():
    with pytest.raises(
        ValueError, match=r"unknown model preset 'huge'; valid presets: 2b, 4b, 4b-base, 8b, tiny"
    ):
        load_preset("huge")


def test_round_trip_dict():
    p = load_preset("4b")
    assert preset_from_dict(p.to_dict()) == p


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"init": "magic"}, "init must be 'random', 'pretrained' or 'released'"),
        ({"loss": {"mask_loss": "sparse"}}, "loss.mask_loss must be 'points' or 'dense'"),
        ({"loss": {"mask_slots": -1}}, "loss.mask_slots must be >= 0"),
        ({"max_new_tokens": 0}, "max_new_tokens must be positive"),
        ({"bogus": 1}, r"unknown keys \['bogus'\]"),
        ({"loss": {"ce": -1.0}}, "loss weights must be >= 0"),
        ({"policy": {"lora": {"r": 0}}}, "lora.r and lora.alpha must be positive"),
        ({"vlm": {"repo": "Qwen/x", "revision": "main"}}, "must be a 40-hex commit sha"),
        ({"min_pixels": 10, "max_pixels": 5}, "min_pixels <= max_pixels"),
        ({"dtype": "int8"}, "dtype must be"),
    ],
)
def test_validation_errors(change, message):
    data = load_preset("tiny").to_dict()
    data.update(change)
    with pytest.raises(ValueError, match=message):
        preset_from_dict(data)
