"""The policy side of GRPO: where the initial model is, loading it, per-token log-probs and the
auxiliary mask loss on each group's best rollout (the authors' `train_segmentation_grpo`).

    uri = resolve_model_uri("s3://b/sft/run/model_manifest.json")   # -> the model directory URI
    check_seg_model(uri)                                              # UserError without [SEG]
    model = load_model(uri, tmp_dir)                                  # RSa2VA
    logp = PolicyLogProbs(model)(**sequence_batch)                    # (B, T-1) log p(token t+1)
    targets = best_rollout_targets(texts, gt_answer_masks, advantages, group_size)
    logp, mask_loss = PolicyLogProbs(model)(targets=targets, **sequence_batch)

`init_from` may be a model directory (models' save_pretrained format), or the model manifest
JSON an SFT run publishes (a local file, an s3:// object, or the KFP Model artifact file).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from components.grpo.objective import token_logprobs, union_mask_loss
from components.grpo.rewards import seg_count, seg_indices
from evaluation import masks
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


def apply_grpo_policy(
    model: nn.Module, freeze_mask_decoder: bool, train_projection: bool
) -> list[nn.Parameter]:
    """Freeze what GRPO does not train: SAM 2 (the authors freeze all of it) and, unless the auxiliary
    mask loss trains it (`train_projection`), the `[SEG]` projection.

    The policy loss only reaches the language side (LoRA or the LLM, per the model preset); what gets
    no gradient is frozen rather than decayed by the optimizer.
    """
    if freeze_mask_decoder:
        for p in model.sam.parameters():
            p.requires_grad_(False)
    for p in model.seg_projection.parameters():
        p.requires_grad_(train_projection)
    trainable = [p for p in model.vlm.parameters() if p.requires_grad]
    if not trainable:
        raise UserError(
            "the model has no trainable language-model parameters (LoRA or LLM): nothing for GRPO "
            "to update; enable policy.lora or unfreeze the LLM in the model preset"
        )
    return trainable


@dataclass(frozen=True)
class MaskTargets:
    """What the auxiliary mask loss compares, one entry per group: the batch row of its best rollout,
    which of that rollout's `[SEG]` masks count (False: reasoning, zeroed), the GT answer union (H, W)."""

    rows: tuple[int, ...]
    keep: tuple[tuple[bool, ...], ...]
    gt: tuple[torch.Tensor, ...]


def best_rollout_targets(
    texts: list[str], answer_masks: list[tuple[dict, ...]], advantages: torch.Tensor, group_size: int
) -> MaskTargets:
    """MaskTargets of every group that has GT answer masks (`answer_masks[g]`, RLEs at image size).

    A group's best rollout is its highest advantage, the first one on ties (`argmax`, as the authors);
    its reasoning `[SEG]`s (`seg_indices`) are not kept.
    """
    best = advantages.detach().cpu().view(-1, group_size).argmax(dim=1).tolist()
    rows, keep, gt = [], [], []
    for group, b in enumerate(best):
        if not answer_masks[group]:
            continue
        row = group * group_size + b
        reasoning = set(seg_indices(texts[row])[0])
        rows.append(row)
        keep.append(tuple(i not in reasoning for i in range(seg_count(texts[row]))))
        gt.append(torch.from_numpy(masks.decode(masks.union(list(answer_masks[group])))))
    return MaskTargets(tuple(rows), tuple(keep), tuple(gt))


class PolicyLogProbs(nn.Module):
    """Wraps RSa2VA: `forward` returns per-token log-probs of the given sequences' completion tokens (0 at
    the prompt's positions; DeepSpeed-friendly), and with `targets` also the auxiliary mask loss from the
    same forward's hidden states."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, targets: MaskTargets | None = None, **batch: Any
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        vlm = self.model.vlm
        inputs = {k: batch[k] for k in _VLM_KEYS}
        inputs["pixel_values"] = inputs["pixel_values"].to(vlm.dtype)
        hidden = vlm.model(**inputs, use_cache=False).last_hidden_state
        # the lm head and the log-softmax only where a completion token is predicted (0 elsewhere, masked out
        # by the loss): on a real vocabulary the full (B, T, V) fp32 log-softmax is most of the memory
        logits, next_ids, scored = self.model.labelled_logits(hidden, batch["labels"])
        logp = hidden.new_zeros(scored.shape, dtype=torch.float32)
        logp[scored] = token_logprobs(logits, next_ids)
        if targets is None:
            return logp
        return logp, self.mask_loss(batch, hidden, targets)

    def mask_loss(self, batch: dict[str, Any], hidden: torch.Tensor, targets: MaskTargets) -> torch.Tensor:
        """Mean over groups of `union_mask_loss` on each best rollout (0 for one without `[SEG]`).

        A `seg_norm` standardises with its running statistics here, as when the rollouts' masks were
        drawn: one rollout's few `[SEG]` states are no batch to take statistics from (nor to update them)."""
        from models.generation import eval_mode

        model, weights = self.model, self.model.preset.loss
        zero = sum(p.sum() * 0.0 for p in model.seg_projection.parameters())  # every rank touches the MLP
        points = None
        if weights.mask_loss == "points":  # as in SFT: the preset's point-sampled loss
            points = (weights.num_points, weights.oversample_ratio, weights.importance_ratio)
        losses = []
        with eval_mode(model.seg_norm) if model.seg_norm is not None else contextlib.nullcontext():
            for row, keep, gt in zip(targets.rows, targets.keep, targets.gt):
                ids = batch["input_ids"][row : row + 1]
                logits, _ = model.seg_masks(ids, hidden[row : row + 1], batch["sam_pixel_values"][row : row + 1])
                if logits[0].shape[0] != len(keep):
                    raise ValueError(f"row {row}: {logits[0].shape[0]} [SEG] tokens but {len(keep)} keep flags")
                if not keep:
                    losses.append(zero)
                    continue
                flags = torch.tensor(keep, dtype=torch.bool)
                losses.append(zero + union_mask_loss(logits[0], flags, gt, weights.bce, weights.dice, points))
        return torch.stack(losses).mean() if losses else zero
