"""Case tables for the VRT rewards, the registry and the weighted combination (exact values)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components.grpo.rewards import (
    REWARDS,
    RewardSample,
    answer_iou_score,
    combine,
    compute_rewards,
    get_reward,
    iou_matrix_eps,
    no_repeat,
    resize_256,
    seg_indices,
    think_format,
    vrt_answer_iou,
    vrt_answer_iou_hungarian,
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
        ("[SEG] <answer>x [SEG]</answer>", 0.0),  # no <think> at all
        ("x <think>a [SEG]</think><answer>b [SEG]</answer>", 0.0),  # text before <think>
        (" <think>a [SEG]</think><answer>b [SEG]</answer>", 0.0),  # even one space
        ("<answer>x [SEG]", 0.0),  # unterminated answer
        ("", 0.0),
        ("<think>[SEG] [SEG]</think>\n<answer>[SEG]</answer>[SEG]", 1.0),  # anything may follow
        ("<think>[SEG]</think><answer>[SEG]</answer><answer>[SEG]</answer>", 1.0),  # two answer spans
        ("<think>a</think><answer>b</answer> [SEG]", 0.0),  # the only [SEG] is after </answer>
        ("<think>t</think>x<answer>a</answer><answer>[SEG]</answer>", 0.5),  # lazy .*? spans tags
        ("<think>a\n[SEG]\nb</think>\n\n<answer>c\n[SEG]</answer><|im_end|>", 1.0),  # DOTALL
    ],
)
def test_vrt_format(text, expected):
    assert vrt_format([RewardSample(text)]) == [expected]


def iou(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32).reshape(len(values), -1)


@pytest.mark.parametrize(
    "matrix, authors, hungarian",
    [
        ([[1.0]], 1.0, 1.0),  # N=M=K=1
        ([[1.0], [0.0]], 0.9, 0.9),  # N=2, M=1, K=1: 1.0 - 0.1*(2+1-2)
        ([[0.0], [1.0]], 0.0, 0.9),  # M=1, the match is the 2nd prediction: the authors score (0, 0)
        ([[0.0, 0.75]], 0.0, 0.65),  # N=1, the match is the 2nd GT
        ([[0.75, 0.0]], 0.65, 0.65),  # N=1, M=2, K=1: 0.75 - 0.1*1
        ([[1.0, 0.0], [0.0, 0.375]], 0.8, 0.8),  # N=M=2, K=1 (0.375 is not above 0.5)
        ([[0.0, 0.8], [0.6, 0.0]], 0.7, 0.7),  # N=M=2: Hungarian for both
        ([[0.5]], 0.0, 0.0),  # 0.5 is not above 0.5: K=0
        ([[0.6], [0.6], [0.6], [0.6]], 0.3, 0.3),  # N=4, M=1, K=1: 0.6 - 0.1*3
    ],
)
def test_answer_iou_score(matrix, authors, hungarian):
    assert answer_iou_score(iou(matrix), first_pair_if_single=True) == pytest.approx(authors, abs=1e-6)
    assert answer_iou_score(iou(matrix), first_pair_if_single=False) == pytest.approx(hungarian, abs=1e-6)


def test_answer_iou_score_empty():
    assert answer_iou_score(torch.zeros(0, 2), True) == 0.0
    assert answer_iou_score(torch.zeros(2, 0), False) == 0.0


TOP, BOTTOM = rows(0, 32), rows(32, 64)
ANS2 = "<think>a [SEG]</think><answer>b [SEG] c [SEG]</answer>"


@pytest.mark.parametrize(
    "text, preds, gts, authors, hungarian",
    [
        # the answer [SEG] is the 2nd one: pred TOP vs GT TOP
        ("<think>a [SEG]</think><answer>b [SEG]</answer>", (BOTTOM, TOP), (TOP,), 1.0, 1.0),
        ("<think>a [SEG]</think><answer>b [SEG]</answer>", (TOP, BOTTOM), (TOP,), 0.0, 0.0),
        # text before <think> does not matter to the answer reward
        ("so <think>a [SEG]</think><answer>b [SEG]</answer>", (BOTTOM, TOP), (TOP,), 1.0, 1.0),
        # two answer spans: no answer masks
        ("<think>[SEG]</think><answer>[SEG]</answer><answer>[SEG]</answer>", (TOP,) * 3, (TOP,), 0.0, 0.0),
        # a [SEG] after </answer> is not an answer mask: N stays 1
        ("<think>[SEG]</think><answer>[SEG]</answer> [SEG]", (BOTTOM, TOP, BOTTOM), (TOP,), 1.0, 1.0),
        # N=1 whose best GT is the 2nd: the authors score pair (0, 0) only
        ("<answer>[SEG]</answer>", (BOTTOM,), (TOP, BOTTOM), 0.0, 0.9),
        # M=1 whose best prediction is the 2nd
        ("<answer>[SEG] [SEG]</answer>", (BOTTOM, TOP), (TOP,), 0.0, 0.9),
        ("<answer>[SEG] [SEG]</answer>", (TOP, BOTTOM), (TOP,), 0.9, 0.9),
        # perfect match, N=M=2, in swapped order (Hungarian)
        (ANS2, (TOP, BOTTOM, TOP), (TOP, BOTTOM), 1.0, 1.0),
        # extra prediction: N=3, M=2, K=2 -> 1 - 0.1
        ("<answer>[SEG] [SEG] [SEG]</answer>", (TOP, BOTTOM, rows(0, 8)), (TOP, BOTTOM), 0.9, 0.9),
        # K=0: IoU 0.5 is not above 0.5
        ("<answer>[SEG]</answer>", (rows(0, 16),), (TOP,), 0.0, 0.0),
        # N=1, M=2: 24/32 rows of TOP -> 0.75 - 0.1
        ("<answer>[SEG]</answer>", (rows(0, 24),), (TOP, BOTTOM), 0.65, 0.65),
        ("<think>[SEG]</think><answer>no seg</answer>", (TOP,), (TOP,), 0.0, 0.0),
        ("<answer>[SEG]", (TOP,), (TOP,), 0.0, 0.0),  # no answer span
        ("<answer>[SEG]</answer>", (), (TOP,), 0.0, 0.0),  # masks missing for the [SEG]s
        ("<answer>[SEG]</answer>", (TOP,), (), 0.0, 0.0),  # no GT answer masks
    ],
)
def test_vrt_answer_iou(text, preds, gts, authors, hungarian):
    sample = RewardSample(text, pred_masks=preds, gt_answer_masks=gts)
    assert vrt_answer_iou([sample]) == [pytest.approx(authors, abs=1e-6)]
    assert vrt_answer_iou_hungarian([sample]) == [pytest.approx(hungarian, abs=1e-6)]


@pytest.mark.parametrize(
    "text, reasoning, answer",
    [
        ("<think>[SEG]</think><answer>[SEG] x [SEG]</answer>[SEG]", [0], [1, 2]),
        ("[SEG] [SEG]<answer>[SEG]</answer>", [0, 1], [2]),
        ("<think>[SEG]</think><answer>[SEG]</answer><answer>[SEG]</answer>", [], []),  # two spans
        ("<think>[SEG]</think><answer>[SEG]", [], []),  # no span
        ("<answer><answer>[SEG]</answer>", [], [0]),  # the lazy span runs from the first <answer>
        ("<answer>a\n[SEG]\n</answer>", [], [0]),
    ],
)
def test_seg_indices(text, reasoning, answer):
    assert seg_indices(text) == (reasoning, answer)


def test_resize_256_is_torch_nearest():
    """Source row floor(i * 3 / 256): 86 output rows come from row 0 (pixel centres would give 85)."""
    m = np.zeros((3, 5), bool)
    m[0] = True
    out = resize_256([masks.encode(m)])
    assert out.shape == (1, 256, 256) and out.dtype == torch.float32
    assert int(out.sum()) == 86 * 256


def test_iou_uses_eps():
    a = torch.zeros(1, 4, 4)
    a[0, 0, :3] = 1
    b = torch.zeros(1, 4, 4)
    b[0, 0, :4] = 1
    got = iou_matrix_eps(a, b)
    assert got.dtype == torch.float32 and float(got) == float(torch.tensor(3.0) / (torch.tensor(4.0) + 1e-6))
    assert float(iou_matrix_eps(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4))) == 0.0


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
        "vrt_answer_iou_hungarian",
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
    for name in ("vrt_format", "vrt_answer_iou", "vrt_answer_iou_hungarian", "think_format", "no_repeat"):
        assert len(get_reward(name)(batch)) == len(junk)
