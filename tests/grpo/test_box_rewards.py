"""Case tables for the Seg-Zero (5-part) and VisionReasoner (matched) box/point rewards."""

from __future__ import annotations

import json

import pytest

from components.grpo.box_rewards import (
    box_iou,
    box_l1,
    parse_seg_zero,
    parse_vision_reasoner,
    seg_zero,
    vision_reasoner,
)
from components.grpo.rewards import RewardSample

GT_BOX = (0.0, 0.0, 100.0, 100.0)
GT_POINTS = ((20.0, 20.0), (80.0, 80.0))


def sz(answer: object, think: bool = True) -> str:
    body = answer if isinstance(answer, str) else json.dumps(answer)
    return ("<think>look</think>" if think else "") + f"<answer>{body}</answer>"


def sz_sample(text: str) -> RewardSample:
    return RewardSample(text, gt_boxes=(GT_BOX,), gt_points=(GT_POINTS,))


PERFECT = {"bbox": [0, 0, 100, 100], "points_1": [20, 20], "points_2": [80, 80]}


@pytest.mark.parametrize(
    "text, expected",
    [
        (sz(PERFECT), 5.0),
        (sz(PERFECT, think=False), 4.0),  # think format part lost
        (sz({**PERFECT, "bbox": [5, 5, 105, 105]}), 5.0),  # IoU 0.822, L1 5
        (sz({**PERFECT, "bbox": [20, 0, 120, 100]}), 4.0),  # IoU 0.667 but L1 exactly 10: not < 10
        (sz({**PERFECT, "bbox": [60, 0, 160, 100]}), 3.0),  # IoU 0.25, L1 30
        (sz({**PERFECT, "points_1": [150, 50]}), 4.0),  # a point outside the GT box
        (sz({**PERFECT, "points_1": [100, 100], "points_2": [0, 0]}), 4.0),  # inside, mean distance 113
        (sz({**PERFECT, "points_1": [95, 95]}), 5.0),  # mean distance 53
        (sz("{bbox: [0, 0, 100, 100]}"), 1.0),  # not JSON: only the think part
        (sz({"bbox": [0, 0, 100, 100], "points_1": [20, 20]}), 1.0),  # key missing
        (sz({**PERFECT, "bbox": [0, 0, 100]}), 1.0),  # 3 coordinates
        (sz({**PERFECT, "points_2": [True, 80]}), 1.0),  # a bool is not a number
        (sz([PERFECT]), 1.0),  # a list, not an object
        ("<think>look</think> no answer", 0.0),
        ("", 0.0),
    ],
)
def test_seg_zero(text, expected):
    assert seg_zero([sz_sample(text)]) == [expected]


def test_seg_zero_parts_add_up_over_a_batch():
    texts = [sz(PERFECT), sz(PERFECT, think=False), "junk"]
    assert seg_zero([sz_sample(t) for t in texts]) == [5.0, 4.0, 0.0]
    assert parse_seg_zero(sz(PERFECT)) == ((0.0, 0.0, 100.0, 100.0), (20.0, 20.0), (80.0, 80.0))


GT2_BOXES = ((0.0, 0.0, 100.0, 100.0), (200.0, 200.0, 300.0, 300.0))
GT2_POINTS = (((50.0, 50.0),), ((250.0, 250.0),))
A = {"bbox_2d": [0, 0, 100, 100], "point_2d": [50, 50]}
B = {"bbox_2d": [200, 200, 300, 300], "point_2d": [250, 250]}
FAR = {"bbox_2d": [500, 500, 600, 600], "point_2d": [550, 550]}


def vr(objs: object) -> RewardSample:
    body = objs if isinstance(objs, str) else json.dumps(objs)
    return RewardSample(f"<think>t</think><answer>{body}</answer>", gt_boxes=GT2_BOXES, gt_points=GT2_POINTS)


@pytest.mark.parametrize(
    "objs, expected",
    [
        ([A, B], 3.0),
        ([B, A], 3.0),  # order does not matter: Hungarian matching
        ([A], 1.5),  # 3 / max(1, 2)
        ([A, B, FAR], 2.0),  # 6 / max(3, 2)
        ([FAR], 0.0),
        ([{**A, "bbox_2d": [20, 0, 120, 100]}, B], 2.5),  # IoU 0.667, L1 10: pair scores 2 + 3
        ([{**A, "point_2d": [80, 50]}, B], 2.5),  # point distance exactly 30: not < 30
        ([{**A, "bbox_2d": [5, 0, 105, 100], "point_2d": [101, 50]}, B], 2.5),  # point outside GT box
        ([], 0.0),
        (A, 0.0),  # an object, not a list
        ([{"bbox_2d": [0, 0, 100, 100]}], 0.0),  # point missing
        ("not json", 0.0),
    ],
)
def test_vision_reasoner(objs, expected):
    assert vision_reasoner([vr(objs)]) == [pytest.approx(expected, abs=1e-12)]


def test_vision_reasoner_parse():
    assert parse_vision_reasoner(vr([A]).completion) == [((0.0, 0.0, 100.0, 100.0), (50.0, 50.0))]
    assert parse_vision_reasoner("<answer>[1]</answer>") is None


@pytest.mark.parametrize(
    "a, b, iou, l1",
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0, 0.0),
        ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150, 2.5),
        ((0, 0, 10, 10), (20, 20, 30, 30), 0.0, 20.0),
        ((0, 0, 0, 0), (0, 0, 0, 0), 0.0, 0.0),
        ((10, 10, 0, 0), (0, 0, 10, 10), 0.0, 10.0),  # inverted box has area 0
    ],
)
def test_box_geometry(a, b, iou, l1):
    assert box_iou(a, b) == pytest.approx(iou)
    assert box_l1(a, b) == l1


def test_missing_ground_truth_is_a_clear_error():
    with pytest.raises(ValueError, match="'seg_zero' needs gt_boxes"):
        seg_zero([RewardSample(sz(PERFECT))])
    with pytest.raises(ValueError, match="'vision_reasoner' needs gt_boxes"):
        vision_reasoner([RewardSample(sz(PERFECT))])
    with pytest.raises(ValueError, match="needs 2 ground-truth point"):
        seg_zero([RewardSample(sz(PERFECT), gt_boxes=(GT_BOX,), gt_points=(((1.0, 1.0),),))])
