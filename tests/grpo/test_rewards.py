"""Case tables for the VRT rewards, the registry and the weighted combination (exact values)."""

from __future__ import annotations

import numpy as np
import pytest

from components.grpo.rewards import (
    REWARDS,
    RewardSample,
    answer_iou_score,
    combine,
    compute_rewards,
    get_reward,
    no_repeat,
    think_format,
    vrt_answer_iou,
    vrt_format,
)
from evaluation import masks


def rows(start: int, stop: int, cols: int = 64) -> dict:
    """RLE of a 64x64 mask whose rows start..stop-1 and columns 0..cols-1 are set."""
    m = np.zeros((64, 64), bool)
    m[start:stop, :cols] = True
    return masks.encode(m)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>the cup [SEG]</think><answer>it [SEG]</answer>", 1.0),
        ("<think>no masks</think><answer>it [SEG]</answer>", 0.5),
        ("<think>a [SEG]</think><answer>none</answer>", 0.0),
        ("<think>a [SEG]</think> after think [SEG]", 0.0),
        ("[SEG] <answer>x [SEG]</answer>", 0.5),  # a reasoning [SEG] outside <think> is not "in think"
        ("<answer>x [SEG]", 0.0),  # unterminated answer
        ("", 0.0),
        ("<think>[SEG] [SEG]</think>\n<answer>[SEG]</answer>[SEG]", 1.0),
    ],
)
def test_vrt_format(text, expected):
    assert vrt_format([RewardSample(text)]) == [expected]


@pytest.mark.parametrize(
    "iou, expected",
    [
        ([[1.0]], 1.0),  # N=M=K=1
        ([[1.0], [0.0]], 0.9),  # N=2, M=1, K=1: 1.0 - 0.1*(2+1-2)
        ([[0.75, 0.0]], 0.65),  # N=1, M=2, K=1: 0.75 - 0.1*1
        ([[1.0, 0.0], [0.0, 0.375]], 0.8),  # N=M=2, K=1 (0.375 is not above 0.5): 1.0 - 0.1*2
        ([[0.8, 0.0], [0.0, 0.6]], 0.7),  # N=M=K=2: mean(0.8, 0.6)
        ([[0.5]], 0.0),  # 0.5 is not above 0.5: no match
        ([[0.6], [0.6], [0.6], [0.6]], 0.6 - 0.3),  # N=4, M=1, K=1
        (np.zeros((0, 2)), 0.0),
    ],
)
def test_answer_iou_score(iou, expected):
    assert answer_iou_score(np.asarray(iou, float)) == pytest.approx(expected, abs=1e-12)


TOP, BOTTOM = rows(0, 32), rows(32, 64)


@pytest.mark.parametrize(
    "text, preds, gts, expected",
    [
        ("<think>a [SEG]</think><answer>b [SEG]</answer>", (BOTTOM, TOP), (TOP,), 1.0),
        ("<think>a [SEG]</think><answer>b [SEG]</answer>", (TOP, BOTTOM), (TOP,), 0.0),
        ("<answer>[SEG] [SEG]</answer>", (TOP, BOTTOM), (TOP,), 0.9),
        ("<answer>[SEG]</answer>", (rows(0, 24),), (TOP, BOTTOM), 0.65),
        ("<answer>[SEG][SEG]</answer>", (TOP, rows(32, 64, 24)), (TOP, BOTTOM), 0.8),
        ("<think>[SEG]</think><answer>no seg</answer>", (TOP,), (TOP,), 0.0),
        ("<answer>[SEG]", (TOP,), (TOP,), 0.0),  # no answer span
        ("<answer>[SEG]</answer>", (), (TOP,), 0.0),  # masks missing for the [SEG]s
        ("<answer>[SEG]</answer>", (TOP,), (), 0.0),  # no GT answer masks
    ],
)
def test_vrt_answer_iou(text, preds, gts, expected):
    got = vrt_answer_iou([RewardSample(text, pred_masks=preds, gt_answer_masks=gts)])
    assert got == [pytest.approx(expected, abs=1e-12)]


def test_vrt_answer_iou_compares_at_256():
    small = np.zeros((8, 8), bool)
    small[:4] = True
    big = np.zeros((100, 80), bool)
    big[:50] = True
    sample = RewardSample("<answer>[SEG]</answer>", (masks.encode(small),), (masks.encode(big),))
    assert vrt_answer_iou([sample]) == [1.0]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>x</think><answer>y</answer>", 1.0),
        ("  <think>x\ny</think>\n\n<answer>y</answer>\n", 1.0),
        ("<think>x</think>", 0.0),
        ("<answer>y</answer>", 0.0),
        ("<think>x</think><answer>y</answer> trailing", 0.0),
        ("lead <think>x</think><answer>y</answer>", 0.0),
        ("<answer>y</answer><think>x</think>", 0.0),
    ],
)
def test_think_format(text, expected):
    assert think_format([RewardSample(text)]) == [expected]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The cup is red. The table is brown.", 1.0),
        ("The cup is red. The cup is red.", 0.0),
        ("A.\nB!\nA?", 0.0),
        ("one. . two.", 1.0),
        ("", 1.0),
    ],
)
def test_no_repeat(text, expected):
    assert no_repeat([RewardSample(text)]) == [expected]


def test_registry_names_and_unknown_name():
    assert sorted(REWARDS) == [
        "no_repeat",
        "seg_zero",
        "think_format",
        "vision_reasoner",
        "vrt_answer_iou",
        "vrt_format",
    ]
    assert get_reward("vrt_format") is vrt_format
    with pytest.raises(ValueError, match="unknown reward 'iou'.*no_repeat, seg_zero, think_format"):
        get_reward("iou")


def test_compute_and_combine_weights():
    batch = [
        RewardSample("<think>[SEG]</think><answer>[SEG]</answer>"),
        RewardSample("<think>x</think><answer>[SEG]</answer> tail"),
        RewardSample("garbage"),
    ]
    weights = {"vrt_format": 2.0, "think_format": 0.5}
    per = compute_rewards(batch, weights)
    assert per == {"vrt_format": [1.0, 0.5, 0.0], "think_format": [1.0, 0.0, 0.0]}
    assert combine(per, weights) == [2.5, 1.0, 0.0]
    with pytest.raises(ValueError, match="no rewards configured"):
        combine(per, {})


def test_rewards_never_raise_on_garbage():
    junk = ["", "<answer>", "</answer><answer>", "<think><think></answer>", "[SEG]" * 5, "\x00\xff{]"]
    batch = [RewardSample(t, gt_answer_masks=(TOP,)) for t in junk]
    for name in ("vrt_format", "vrt_answer_iou", "think_format", "no_repeat"):
        assert len(get_reward(name)(batch)) == len(junk)
