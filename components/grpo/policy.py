"""The policy side of GRPO: where the initial model is, loading it, and per-token log-probs.

    uri = resolve_model_uri("s3://b/sft/run/model_manifest.json")   # -> the model directory URI
    check_seg_model(uri)                                              # UserError without [SEG]
    model = load_model(uri, tmp_dir)                                  # RSa2VA
    logp = PolicyLogProbs(model)(**sequence_batch)                    # (B, T-1) log p(token t+1)

`init_from` may be a model directory (models' save_pretrained format), or the model manifest
JSON an SFT run publishes (a local file, an s3:// object, or the KFP Model artifact file).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from components.grpo.objective import token_logprobs
from vrt import storage
from vrt.errors import UserError

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
_VLM_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")


def resolve_model_uri(init_from: str) -> str:
    """The model directory URI behind `init_from` (a directory, or a manifest JSON pointing at one)."""
    if not init_from:
        raise UserError(
            "grpo.init_from is empty: set init_from=<model directory or model_manifest.json URI> "
            "(the output of `vrt train sft`)"
        )
    if init_from.endswith(".json") or (not storage.is_s3(init_from) and Path(init_from).is_file()):
        if not storage.exists(init_from):
            raise UserError(
                f"init_from={init_from} does not exist: give the SFT run's model_manifest.json or model dir"
            )
        try:
            uri = json.loads(storage.read_bytes(init_from).decode())["uri"]
        except (ValueError, KeyError, TypeError) as e:
            raise UserError(f"init_from={init_from} is not a model manifest (JSON with a `uri`): {e}") from e
        return str(uri)
    return init_from


def check_seg_model(uri: str) -> None:
    """UserError unless `uri` holds an R-Sa2VA model whose tokenizer has the `[SEG]` token."""
    from models.io import CONFIG_FILE
    from models.tokenizer import SEG_TOKEN

    config_uri = storage.join(uri, CONFIG_FILE)
    if not storage.exists(config_uri):
        raise UserError(f"{uri} is not a model directory (no {CONFIG_FILE}): set init_from to an SFT model")
    try:
        config = json.loads(storage.read_bytes(config_uri).decode())
    except ValueError as e:
        raise UserError(f"{config_uri} is not JSON: {e}") from e
    tokenizer_uri = storage.join(uri, TOKENIZER_FILES[0])
    vocab_text = storage.read_bytes(tokenizer_uri).decode() if storage.exists(tokenizer_uri) else ""
    if config.get("format") != "rsa2va" or f'"{SEG_TOKEN}"' not in vocab_text:
        raise UserError(
            f"the model at {uri} has no {SEG_TOKEN} token (not an R-Sa2VA model): "
            f"GRPO needs masks per {SEG_TOKEN}; "
            "start from an R-Sa2VA SFT output (vrt train sft)"
        )


def local_model_dir(uri: str, scratch: str) -> Path:
    """A local directory holding the model (downloaded into `scratch` when on S3)."""
    if storage.is_s3(uri):
        return storage.download_dir(uri, str(Path(scratch) / "model"))
    return Path(uri)


def load_model(uri: str, device: torch.device | str = "cpu"):
    """RSa2VA from a model directory URI (local or s3://)."""
    from models import RSa2VA

    with tempfile.TemporaryDirectory(prefix="vrt-grpo-init-") as tmp:
        model = RSa2VA.from_pretrained(local_model_dir(uri, tmp))
    return model.to(device)


def apply_grpo_policy(model: nn.Module, freeze_mask_decoder: bool) -> list[nn.Parameter]:
    """Freeze what GRPO does not train: SAM 2 (the paper freezes its decoder) and the `[SEG]` projection.

    The policy loss only reaches the language side (LoRA or the LLM, per the model preset); the
    mask path gets no gradient from it, so it is frozen rather than decayed by the optimizer.
    """
    if freeze_mask_decoder:
        for p in list(model.sam.parameters()) + list(model.seg_projection.parameters()):
            p.requires_grad_(False)
    trainable = [p for p in model.vlm.parameters() if p.requires_grad]
    if not trainable:
        raise UserError(
            "the model has no trainable language-model parameters (LoRA or LLM): nothing for GRPO "
            "to update; enable policy.lora or unfreeze the LLM in the model preset"
        )
    return trainable


class PolicyLogProbs(nn.Module):
    """Wraps RSa2VA: `forward` returns per-token log-probs of the given sequences (DeepSpeed-friendly)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, **batch: Any) -> torch.Tensor:
        vlm = self.model.vlm
        inputs = {k: batch[k] for k in _VLM_KEYS}
        inputs["pixel_values"] = inputs["pixel_values"].to(vlm.dtype)
        logits = vlm(**inputs, use_cache=False).logits
        return token_logprobs(logits[:, :-1], batch["input_ids"][:, 1:])
