"""Parameter counts per tower (total / trainable under the preset's policy) without allocating weights.

    from models.params import count_parameters
    count_parameters(load_preset("4b"))   # builds the towers on the meta device: no memory, no download

The architecture comes from the preset's `vlm_config` / `sam_config`; random-init presets add
the tokenizer's vocabulary size (BPE ranks + added tokens).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from models.config import ModelPreset
from models.tokenizer import QWEN_PLAIN_ADDED_TOKENS, QWEN_SPECIAL_TOKENS, RSA2VA_SPECIAL_TOKENS


@dataclass(frozen=True)
class TowerCount:
    name: str
    total: int
    trainable: int


def _vocab_size(preset: ModelPreset) -> int | None:
    if preset.init != "random":
        return None
    added = QWEN_SPECIAL_TOKENS + QWEN_PLAIN_ADDED_TOKENS + RSA2VA_SPECIAL_TOKENS
    return preset.tokenizer_bpe_ranks + len(added)


def _meta_model(preset: ModelPreset):
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Sam2Model

    from models.modeling import seg_projection
    from models.towers import apply_policy, inject_lora, sam_config

    kwargs = dict(preset.vlm_config)
    vocab = _vocab_size(preset)
    if vocab is not None:
        kwargs["text_config"] = dict(kwargs["text_config"], vocab_size=vocab)
    with torch.device("meta"):
        vlm = Qwen3VLForConditionalGeneration(Qwen3VLConfig(**kwargs))
        sam = Sam2Model(sam_config(preset))
        projection = seg_projection(vlm, sam)
        inject_lora(preset, vlm)
    apply_policy(preset, vlm, sam, projection)
    return vlm, sam, projection


def count_parameters(preset: ModelPreset) -> list[TowerCount]:
    """Per-tower counts: vision, llm (incl. LoRA), sam_encoder, mask_decoder (+ prompt parts), projection."""
    vlm, sam, projection = _meta_model(preset)
    towers = {
        "vision": [vlm.model.visual],
        "llm": [vlm.model.language_model, vlm.lm_head],
        "sam_encoder": [sam.vision_encoder],
        "mask_decoder": [sam.mask_decoder, sam.prompt_encoder, sam.shared_image_embedding],
        "projection": [projection],
    }
    seen: set[int] = set()
    counts = []
    for name, modules in towers.items():
        total = trainable = 0
        for module in modules:
            for param in module.parameters():
                if id(param) in seen:
                    continue
                seen.add(id(param))
                total += param.numel()
                trainable += param.numel() if param.requires_grad else 0
        counts.append(TowerCount(name, total, trainable))
    extra = [p for p in sam.parameters() if id(p) not in seen]  # no_memory_embedding
    counts[2] = TowerCount(
        "sam_encoder",
        counts[2].total + sum(p.numel() for p in extra),
        counts[2].trainable + sum(p.numel() for p in extra if p.requires_grad),
    )
    return counts
