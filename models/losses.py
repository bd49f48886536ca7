"""Mask losses and the teacher-forced IoU (R-Sa2VA: BCE weight 2.0 + Dice weight 0.5 + next-token CE).

`mask_bce`, `mask_dice`, `mask_iou` take mask logits and targets of shape (K, H, W) (or (K, P)
sampled points) and return scalars. As in the authors' training (docs/fidelity.md), each sample
contributes exactly `mask_slots` masks (`mask_slots`), and the losses are computed on points
(`sample_points`): 12,544 per mask, three quarters of them where the prediction is least certain.
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


def mask_slots(n: int, slots: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of the `slots` masks a sample with `n` masks trains on: a random `slots` of them
    (torch's RNG, seeded by the run) when n > slots, all of them repeated cyclically when n < slots;
    slots == 0 keeps every mask once."""
    if n <= 0:
        raise ValueError(f"mask_slots needs at least one mask, got {n}")
    if slots == 0 or n == slots:
        return torch.arange(n)
    if n > slots:
        return torch.randperm(n, generator=generator)[:slots]
    return torch.arange(slots) % n


def _at_points(maps: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinear values of (K, H, W) maps at (K, P, 2) coordinates in [0, 1] (x, y): (K, P)."""
    grid = (2.0 * coords - 1.0)[:, :, None, :]
    return F.grid_sample(maps[:, None], grid, mode="bilinear", align_corners=False)[:, 0, :, 0]


def sample_points(
    logits: torch.Tensor,
    targets: torch.Tensor,
    num_points: int,
    oversample_ratio: float = 3.0,
    importance_ratio: float = 0.75,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, targets) at `num_points` points per mask, both (K, num_points).

    Draw `oversample_ratio * num_points` uniform points, keep the `importance_ratio * num_points`
    whose logits are closest to 0 (most uncertain), add uniform points up to `num_points`
    (the point-sampled mask loss of PointRend / Mask2Former that the authors use)."""
    logits = logits.float()
    k, device = logits.shape[0], logits.device
    n_uncertain = int(importance_ratio * num_points)
    with torch.no_grad():
        candidates = torch.rand(k, int(oversample_ratio * num_points), 2, generator=generator).to(device)
        uncertainty = -_at_points(logits, candidates).abs()
        top = uncertainty.topk(n_uncertain, dim=1).indices
        chosen = torch.gather(candidates, 1, top[:, :, None].expand(-1, -1, 2))
        extra = torch.rand(k, num_points - n_uncertain, 2, generator=generator).to(device)
        coords = torch.cat([chosen, extra], dim=1)
        point_targets = _at_points(targets.float(), coords)
    return _at_points(logits, coords), point_targets


def box_projection_loss(logits: torch.Tensor, boxes: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Box-supervised mask loss (BoxInst's projection term) of (K, H, W) mask logits against (K, H, W)
    box masks (1 inside each box, 0 outside): the predicted probabilities' maximum over rows and over
    columns against the box's own two 1-D projections, Dice loss 1 - 2 sum(p t) / (sum(p²) + sum(t²) + eps)
    on each axis, the two added (0 for a prediction filling exactly the box, 2 for an empty one),
    averaged over masks."""
    probs = logits.float().sigmoid()
    boxes = boxes.float()

    def dice(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return 1 - 2 * (p * t).sum(1) / ((p * p).sum(1) + (t * t).sum(1) + eps)

    along_x = dice(probs.amax(dim=1), boxes.amax(dim=1))
    along_y = dice(probs.amax(dim=2), boxes.amax(dim=2))
    return (along_x + along_y).mean()
