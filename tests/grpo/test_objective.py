"""Group advantages on crafted groups; the clipped ratio loss, its clip fraction, KL, both reductions
(per sequence, the authors'; per token) and the auxiliary union mask loss, on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from components.grpo.objective import group_advantages, policy_loss, token_logprobs, union_mask_loss


@pytest.mark.parametrize(
    "rewards, group_size, expected",
    [
        (
            [1.0, 0.0, 0.5, 0.5],
            4,
            [0.5 / (math.sqrt(1 / 6) + 1e-4), -0.5 / (math.sqrt(1 / 6) + 1e-4), 0.0, 0.0],
        ),
        ([2.0, 2.0, 2.0, 2.0], 4, [0.0, 0.0, 0.0, 0.0]),  # all equal: zero, not NaN
        ([0.0, 1.0, 3.0, 3.0], 2, [-0.5 / (math.sqrt(0.5) + 1e-4), 0.5 / (math.sqrt(0.5) + 1e-4), 0.0, 0.0]),
        ([0.0, 0.0, 0.0, 1.0], 4, [-0.25 / (0.5 + 1e-4)] * 3 + [0.75 / (0.5 + 1e-4)]),
    ],
)
def test_group_advantages(rewards, group_size, expected):
    adv = group_advantages(torch.tensor(rewards), group_size)
    assert not torch.isnan(adv).any()
    assert adv.tolist() == pytest.approx(expected, rel=1e-5)


def test_group_advantages_bad_input():
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        group_advantages(torch.zeros(4), 1)
    with pytest.raises(ValueError, match="5 rewards do not split into groups of 2"):
        group_advantages(torch.zeros(5), 2)


MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])


def test_unclipped_loss_is_token_averaged_and_gives_the_paper_gradient():
    logp = torch.full((2, 3), -1.0, requires_grad=True)
    adv = torch.tensor([1.0, -1.0])
    loss, stats = policy_loss(logp, logp.detach(), adv, MASK, clip_eps=None, reduction="token")
    assert loss.item() == pytest.approx((-2 + 3) / 5)  # -(1*2 - 1*3) / 5 tokens
    loss.backward()
    assert logp.grad.flatten().tolist() == pytest.approx([-0.2, -0.2, 0.0, 0.2, 0.2, 0.2])
    assert (stats.tokens, stats.clip_fraction, stats.kl, stats.ratio_mean) == (5, 0.0, 0.0, 1.0)


def test_clipping_stops_the_gradient_only_where_the_clipped_term_is_active():
    old = torch.zeros(2, 3)
    logp = torch.full((2, 3), math.log(1.5), requires_grad=True)
    adv = torch.tensor([1.0, -1.0])
    loss, stats = policy_loss(logp, old, adv, MASK, clip_eps=0.2, reduction="token")
    assert loss.item() == pytest.approx((-1.2 * 2 + 1.5 * 3) / 5)
    assert stats.clip_fraction == pytest.approx(2 / 5)  # the positive-advantage tokens
    assert stats.ratio_mean == pytest.approx(1.5)
    loss.backward()
    assert logp.grad.flatten().tolist() == pytest.approx([0.0, 0.0, 0.0, 0.3, 0.3, 0.3])  # d(1.5*e^x)/dx / 5


def test_sequence_reduction_is_the_authors():
    """Per sequence: mean of (-A) over its tokens, then the mean over sequences (sa2va_grpo.py:676)."""
    logp = torch.full((2, 3), -1.0, requires_grad=True)
    adv = torch.tensor([1.0, 0.5])
    loss, stats = policy_loss(logp, logp.detach(), adv, MASK, clip_eps=None, reduction="sequence")
    assert loss.item() == pytest.approx((-1.0 + -0.5) / 2)  # token reduction: (-2 - 1.5) / 5 = -0.7
    loss.backward()
    # d/dlogp: -A / (tokens of the sequence) / (number of sequences)
    assert logp.grad.flatten().tolist() == pytest.approx([-0.25, -0.25, 0.0, -1 / 12, -1 / 12, -1 / 12])
    assert stats.tokens == 5
    token, _ = policy_loss(logp, logp.detach(), adv, MASK, clip_eps=None, reduction="token")
    assert token.item() == pytest.approx(-0.7)


def test_sequence_reduction_with_an_empty_sequence():
    logp = torch.zeros(2, 2)
    loss, _ = policy_loss(logp, logp, torch.tensor([2.0, 1.0]), torch.tensor([[1.0, 1.0], [0.0, 0.0]]))
    assert loss.item() == pytest.approx(-1.0)  # (-2 + 0) / 2: the empty one counts 0, no NaN


def test_clip_off_equals_clip_on_at_ratio_one():
    logp = torch.randn(2, 3)
    adv = torch.tensor([0.7, -0.3])
    a, _ = policy_loss(logp, logp, adv, MASK, clip_eps=0.2)
    b, _ = policy_loss(logp, logp, adv, MASK, clip_eps=None)
    assert a.item() == pytest.approx(b.item())


def test_kl_penalty_k3():
    logp = torch.full((2, 3), -2.0, requires_grad=True)
    ref = logp.detach() + math.log(2.0)
    loss, stats = policy_loss(logp, logp.detach(), torch.zeros(2), MASK, ref_logp=ref, kl_coef=0.1)
    assert stats.kl == pytest.approx(1 - math.log(2))
    assert loss.item() == pytest.approx(0.1 * (1 - math.log(2)))
    _, no_kl = policy_loss(logp, logp.detach(), torch.zeros(2), MASK, ref_logp=logp.detach(), kl_coef=0.1)
    assert no_kl.kl == 0.0


def test_policy_loss_bad_input():
    with pytest.raises(ValueError, match="kl_coef > 0 needs ref_logp"):
        policy_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2), MASK, kl_coef=0.1)
    with pytest.raises(ValueError, match="must have one shape"):
        policy_loss(torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2), MASK)
    with pytest.raises(ValueError, match="reduction must be one of sequence, token"):
        policy_loss(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(2), MASK, reduction="mean")


def _bce(x: float, t: float) -> float:
    return -(t * math.log(1 / (1 + math.exp(-x))) + (1 - t) * math.log(1 - 1 / (1 + math.exp(-x))))


def test_union_mask_loss_zeroes_reasoning_masks_then_takes_the_max():
    logits = torch.tensor([[[5.0, 5.0]], [[-3.0, 2.0]]])  # K=2 masks of 1x2 pixels
    gt = torch.tensor([[False, True]])
    got = union_mask_loss(logits, torch.tensor([False, True]), gt, bce_weight=2.0, dice_weight=0.5)
    # union = max(0 * [5, 5], [-3, 2]) = [0, 2]
    s2 = 1 / (1 + math.exp(-2.0))
    bce = (_bce(0.0, 0.0) + _bce(2.0, 1.0)) / 2
    dice = 1 - (2 * s2 + 1) / (0.5 + s2 + 1 + 1)
    assert got.item() == pytest.approx(2.0 * bce + 0.5 * dice, rel=1e-6)
    kept = union_mask_loss(logits, torch.tensor([True, True]), gt, bce_weight=2.0, dice_weight=0.0)
    assert kept.item() == pytest.approx(2.0 * (_bce(5.0, 0.0) + _bce(5.0, 1.0)) / 2, rel=1e-6)


def test_union_mask_loss_resizes_bilinearly_to_the_gt():
    logits = torch.tensor([[[-4.0, 4.0]]])  # 1x2 -> 1x4: [-4, -2, 2, 4] (align_corners=False)
    gt = torch.tensor([[False, False, True, True]])
    got = union_mask_loss(logits, torch.tensor([True]), gt, bce_weight=1.0, dice_weight=0.0)
    assert got.item() == pytest.approx((2 * _bce(-4.0, 0.0) + 2 * _bce(-2.0, 0.0)) / 4, rel=1e-6)
    with pytest.raises(ValueError, match="need logits"):
        union_mask_loss(logits[0], torch.tensor([True]), gt, 1.0, 1.0)


def test_token_logprobs():
    logits = torch.tensor([[[0.0, math.log(3.0)], [math.log(3.0), 0.0]]])
    got = token_logprobs(logits, torch.tensor([[1, 1]]))
    assert got.flatten().tolist() == pytest.approx([math.log(0.75), math.log(0.25)])



def test_union_mask_loss_on_sampled_points():
    from models.losses import mask_bce, mask_dice, sample_points

    logits = torch.linspace(-3, 3, 64).view(1, 8, 8)
    gt = torch.zeros(8, 8, dtype=torch.bool)
    gt[:, 4:] = True
    torch.manual_seed(7)
    got = union_mask_loss(logits, torch.tensor([True]), gt, 2.0, 0.5, points=(100, 3.0, 0.75))
    torch.manual_seed(7)
    pred, target = sample_points(logits, gt[None].float(), 100, 3.0, 0.75)
    assert pred.shape == (1, 100)
    assert got.item() == pytest.approx((2.0 * mask_bce(pred, target) + 0.5 * mask_dice(pred, target)).item())
    dense = union_mask_loss(logits, torch.tensor([True]), gt, 2.0, 0.5)
    assert dense.item() == pytest.approx((2.0 * mask_bce(logits, gt[None]) + 0.5 * mask_dice(logits, gt[None])).item())
    assert got.item() != pytest.approx(dense.item())
