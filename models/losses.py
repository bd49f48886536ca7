"""Mask losses and the teacher-forced IoU (R-Sa2VA: BCE weight 2.0 + Dice weight 0.5 + next-token CE).

All functions take mask logits and binary targets of shape (K, H, W) and return scalars.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mask_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-pixel binary cross-entropy, averaged over pixels then masks."""
    return (
        F.binary_cross_entropy_with_logits(logits.float(), targets.float(), reduction="none")
        .flatten(1)
        .mean(1)
        .mean()
    )


def mask_dice(logits: torch.Tensor, targets: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft Dice per mask (smoothed by `eps`), averaged over masks."""
    probs = logits.float().sigmoid().flatten(1)
    targets = targets.float().flatten(1)
    inter = (probs * targets).sum(1)
    return (1 - (2 * inter + eps) / (probs.sum(1) + targets.sum(1) + eps)).mean()


@torch.no_grad()
def mask_iou(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean IoU of (logits > 0) against targets; an empty-vs-empty pair counts as 1."""
    pred = (logits > 0).flatten(1)
    gt = targets.bool().flatten(1)
    inter = (pred & gt).sum(1).float()
    union = (pred | gt).sum(1).float()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).mean()
