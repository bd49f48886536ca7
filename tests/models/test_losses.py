"""Mask losses as the authors train: 5 mask slots per sample, point-sampled BCE + Dice."""

from __future__ import annotations

import pytest
import torch

from models.losses import mask_bce, mask_dice, mask_slots, sample_points


@pytest.mark.parametrize(
    ("n", "slots", "want"),
    [
        (1, 5, [0, 0, 0, 0, 0]),
        (2, 5, [0, 1, 0, 1, 0]),
        (3, 5, [0, 1, 2, 0, 1]),
        (5, 5, [0, 1, 2, 3, 4]),
        (3, 0, [0, 1, 2]),
    ],
)
def test_mask_slots_repeat_cyclically(n, slots, want):
    assert mask_slots(n, slots).tolist() == want


def test_mask_slots_pick_a_seeded_random_five():
    picks = mask_slots(9, 5, torch.Generator().manual_seed(3)).tolist()
    assert picks == mask_slots(9, 5, torch.Generator().manual_seed(3)).tolist()
    assert len(set(picks)) == 5 and all(0 <= i < 9 for i in picks)
    assert picks != mask_slots(9, 5, torch.Generator().manual_seed(4)).tolist()


def test_mask_slots_need_a_mask():
    with pytest.raises(ValueError, match="at least one mask"):
        mask_slots(0, 5)


def test_sample_points_counts_and_uncertainty():
    logits = torch.full((2, 32, 32), 8.0)
    logits[:, :, 14:18] = 0.0  # an uncertain band: 1/8 of the area
    targets = torch.zeros(2, 32, 32)
    targets[:, :, 16:] = 1.0
    gen = torch.Generator().manual_seed(0)
    pred, gt = sample_points(
        logits, targets, num_points=400, oversample_ratio=3, importance_ratio=0.75, generator=gen
    )
    assert pred.shape == gt.shape == (2, 400)
    # 300 importance points come from the 1200 candidates' least certain: all inside the band
    band = (pred.abs() < 8.0).float().sum(1)
    assert bool((band >= 300).all())
    assert float(gt.min()) >= 0.0 and float(gt.max()) <= 1.0


def test_sample_points_matches_dense_values_at_pixel_centres():
    torch.manual_seed(0)
    logits = torch.randn(1, 4, 4)
    targets = (torch.rand(1, 4, 4) > 0.5).float()
    pred, gt = sample_points(logits, targets, num_points=64, importance_ratio=0.0)
    assert pred.shape == gt.shape == (1, 64)
    # sampled values lie within the range of the map (bilinear interpolation)
    assert float(pred.min()) >= float(logits.min()) - 1e-6 and float(pred.max()) <= float(logits.max()) + 1e-6


def test_losses_on_points():
    pred = torch.tensor([[10.0, -10.0, 10.0, -10.0]])
    target = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    assert float(mask_bce(pred, target)) < 1e-4
    assert float(mask_dice(pred, target)) == pytest.approx(0.0, abs=1e-4)
    assert float(mask_dice(-pred, target)) == pytest.approx(0.8, abs=1e-3)  # 1 - (0 + 1) / (2 + 2 + 1)
