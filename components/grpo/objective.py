"""The GRPO objective as pure torch functions: group advantages, clipped ratio loss, KL to a reference,
and the auxiliary mask loss on the best rollout.

    adv = group_advantages(torch.tensor([1.0, 0.0, 0.5, 0.5]), group_size=4)
    loss, stats = policy_loss(logp, old_logp, adv, mask, clip_eps=0.2, ref_logp=ref, kl_coef=0.0)
    aux = union_mask_loss(seg_logits, keep, gt_union, bce_weight=2.0, dice_weight=0.5)

- advantage of rollout i of a group: (r_i − mean) / (std + eps), std the unbiased (n−1) standard
  deviation as in TRL and the paper's code; a group whose rewards are all equal gets 0 (no NaN);
- per token: ratio = exp(logp − old_logp), loss = −min(ratio·A, clip(ratio, 1±ε)·A); with
  `clip_eps=None` it is −ratio·A, the paper's loss (gradient A·∇logp at ratio 1);
- optional KL penalty (k3 estimator, exp(ref − logp) − (ref − logp) − 1) times `kl_coef`;
- reduction `sequence` (the authors'): each sequence's tokens are averaged, then the sequences;
  `token`: the sum over every response token of the batch / the token count;
- `union_mask_loss`: BCE + Dice of the union of a rollout's `[SEG]` mask logits against the union of
  the GT answer masks, reasoning masks' logits zeroed first (the authors' `train_segmentation_grpo`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from models.losses import mask_bce, mask_dice, sample_points

ADV_EPS = 1e-4
REDUCTIONS = ("sequence", "token")


def group_advantages(rewards: torch.Tensor, group_size: int, eps: float = ADV_EPS) -> torch.Tensor:
    """(r − group mean) / (group std + eps) for consecutive groups of `group_size` rollouts."""
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2 for group-normalised advantages, got {group_size}")
    rewards = torch.as_tensor(rewards, dtype=torch.float32)
    if rewards.ndim != 1 or rewards.numel() % group_size:
        raise ValueError(f"{rewards.numel()} rewards do not split into groups of {group_size}")
    groups = rewards.view(-1, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, keepdim=True)
    adv = centred / (std + eps)
    return torch.where(std > 0, adv, torch.zeros_like(adv)).reshape(-1)


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log p(targets) per position: logits (..., V) predicting targets (...) -> (...), e.g. (B, T, V) -> (B, T)."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@dataclass(frozen=True)
class LossStats:
    """Scalars of one loss evaluation (token-level means over the masked tokens)."""

    policy_loss: float
    kl: float
    clip_fraction: float
    ratio_mean: float
    tokens: int
    mask_loss: float = 0.0


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_eps: float | None = 0.2,
    ref_logp: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    reduction: str = "sequence",
) -> tuple[torch.Tensor, LossStats]:
    """Clipped GRPO loss over (B, T) log-probs; advantages are per sequence (B,).

    `reduction`: "sequence" averages each sequence's tokens, then the sequences (a sequence without
    response tokens counts 0); "token" averages over every response token of the batch.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    if logp.shape != old_logp.shape or logp.shape != mask.shape:
        raise ValueError(
            f"logp {tuple(logp.shape)}, old_logp and mask {tuple(mask.shape)} must have one shape"
        )
    if kl_coef and ref_logp is None:
        raise ValueError("kl_coef > 0 needs ref_logp (the frozen reference model's log-probs)")
    mask = mask.to(logp.dtype)
    tokens = mask.sum().clamp(min=1.0)
    adv = advantages.to(logp.dtype).unsqueeze(1)
    ratio = torch.exp(logp - old_logp.detach())
    unclipped = ratio * adv
    if clip_eps is None:
        per_token = -unclipped
        clipped = torch.zeros_like(ratio, dtype=torch.bool)
    else:
        bounded = torch.clamp(ratio, 1 - clip_eps, 1 + clip_eps) * adv
        per_token = -torch.min(unclipped, bounded)
        clipped = bounded < unclipped  # the clipped term is the active one: no gradient from this token
    kl = torch.zeros_like(logp)
    if ref_logp is not None:
        delta = ref_logp.detach() - logp
        kl = torch.exp(delta) - delta - 1
    if kl_coef:
        per_token = per_token + kl_coef * kl
    if reduction == "sequence":
        loss = ((per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).mean()
    else:
        loss = (per_token * mask).sum() / tokens
    stats = LossStats(
        policy_loss=float(loss.detach()),
        kl=float((kl.detach() * mask).sum() / tokens),
        clip_fraction=float((clipped.to(mask.dtype) * mask).sum() / tokens),
        ratio_mean=float((ratio.detach() * mask).sum() / tokens),
        tokens=int(mask.sum()),
    )
    return loss, stats


def union_mask_loss(
    logits: torch.Tensor,
    keep: torch.Tensor,
    gt: torch.Tensor,
    bce_weight: float,
    dice_weight: float,
    points: tuple[int, float, float] | None = None,
) -> torch.Tensor:
    """bce_weight·BCE + dice_weight·Dice of one rollout's union mask against the GT union.

    `logits` (K, h, w) are the low-res mask logits of the rollout's `[SEG]`s; those with `keep` False
    (its reasoning `[SEG]`s) are multiplied by 0 before the pixel-wise max over K, as the authors do
    (so they still take part in the max at logit 0). The union is resized bilinearly to `gt`'s (H, W).
    `points` = (num_points, oversample_ratio, importance_ratio): the losses on uncertainty-sampled points
    (`models.losses.sample_points`, the authors' `loss_sample_points`); None: on every pixel.
    """
    if logits.ndim != 3 or keep.shape != (logits.shape[0],) or gt.ndim != 2:
        raise ValueError(
            f"need logits (K, h, w), keep (K,) and gt (H, W), got {tuple(logits.shape)}, "
            f"{tuple(keep.shape)}, {tuple(gt.shape)}"
        )
    kept = logits.float() * keep.to(logits.device, torch.float32)[:, None, None]
    union = kept.max(dim=0).values
    pred = F.interpolate(union[None, None], size=tuple(gt.shape), mode="bilinear")[0]
    target = gt.to(pred.device, torch.float32)[None]
    if points is not None:
        pred, target = sample_points(pred, target, *points)
    return bce_weight * mask_bce(pred, target) + dice_weight * mask_dice(pred, target)
