"""Box/point rewards for ReasonSeg-style answers (Seg-Zero and VisionReasoner, TASKS.md §2).

    seg_zero([RewardSample('<think>x</think><answer>{"bbox": [0,0,10,10], "points_1": [2,2],'
                           ' "points_2": [5,5]}</answer>', gt_boxes=((0, 0, 10, 10),),
                           gt_points=(((2, 2), (5, 5)),))])          # [5.0]

`seg_zero` (max 5) = think format + answer JSON format + 1[box IoU > 0.5] + 1[mean |Δ| of the
four box coordinates < 10 px] + 1[both points inside the ground-truth box and mean point
distance < 100 px]. `vision_reasoner` (max 3): per (pred, GT) pair 1[IoU > 0.5] + 1[box L1 < 10]
+ 1[point distance < 30 and point inside the GT box]; Hungarian matching maximises the total;
reward = Σ matched scores / max(N, M). Unparseable answers score 0 on every parsed part.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import linear_sum_assignment

from evaluation.trace import parse_trace

if TYPE_CHECKING:
    from components.grpo.rewards import Box, Point, RewardSample

SEG_ZERO_KEYS = ("bbox", "points_1", "points_2")


def _answer_json(text: str) -> object | None:
    span = parse_trace(text).answer_span
    if span is None:
        return None
    try:
        return json.loads(text[span[0] + len("<answer>") : span[1] - len("</answer>")].strip())
    except ValueError:
        return None


def _numbers(value: object, n: int) -> tuple[float, ...] | None:
    if not isinstance(value, list) or len(value) != n:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value):
        return None
    return tuple(float(v) for v in value)


def parse_seg_zero(text: str) -> tuple[Box, Point, Point] | None:
    """(bbox, point 1, point 2) of a Seg-Zero answer {"bbox", "points_1", "points_2"}, or None."""
    data = _answer_json(text)
    if not isinstance(data, dict):
        return None
    box, p1, p2 = (
        _numbers(data.get("bbox"), 4),
        _numbers(data.get("points_1"), 2),
        _numbers(data.get("points_2"), 2),
    )
    if box is None or p1 is None or p2 is None:
        return None
    return box, p1, p2


def parse_vision_reasoner(text: str) -> list[tuple[Box, Point]] | None:
    """[(bbox_2d, point_2d), ...] of a VisionReasoner answer (a JSON list of objects), or None."""
    data = _answer_json(text)
    if not isinstance(data, list):
        return None
    out = []
    for item in data:
        if not isinstance(item, dict):
            return None
        box, point = _numbers(item.get("bbox_2d"), 4), _numbers(item.get("point_2d"), 2)
        if box is None or point is None:
            return None
        out.append((box, point))
    return out


def box_iou(a: Box, b: Box) -> float:
    """IoU of two [x1, y1, x2, y2] boxes (degenerate boxes have area 0; 0 when the union is empty)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def box_l1(a: Box, b: Box) -> float:
    """Mean absolute difference of the four coordinates."""
    return sum(abs(x - y) for x, y in zip(a, b)) / 4.0


def inside(point: Point, box: Box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def _ground_truth(s: RewardSample, name: str, points_per_object: int) -> None:
    if not s.gt_boxes or len(s.gt_points) != len(s.gt_boxes):
        raise ValueError(f"reward {name!r} needs gt_boxes and one gt_points entry per box in every sample")
    if any(len(p) < points_per_object for p in s.gt_points):
        raise ValueError(f"reward {name!r} needs {points_per_object} ground-truth point(s) per object")


def _seg_zero_one(s: RewardSample) -> float:
    from components.grpo.rewards import think_format

    _ground_truth(s, "seg_zero", 2)
    score = think_format([s])[0]
    parsed = parse_seg_zero(s.completion)
    if parsed is None:
        return score
    box, p1, p2 = parsed
    gt_box, (g1, g2) = s.gt_boxes[0], s.gt_points[0][:2]
    score += 1.0
    score += 1.0 if box_iou(box, gt_box) > 0.5 else 0.0
    score += 1.0 if box_l1(box, gt_box) < 10.0 else 0.0
    mean_dist = (math.dist(p1, g1) + math.dist(p2, g2)) / 2.0
    score += 1.0 if inside(p1, gt_box) and inside(p2, gt_box) and mean_dist < 100.0 else 0.0
    return score


def seg_zero(samples: Sequence[RewardSample]) -> list[float]:
    """Seg-Zero's 5-part reward (0..5) of one box + two points against the first GT object."""
    return [_seg_zero_one(s) for s in samples]


def pair_scores(
    preds: list[tuple[Box, Point]], gt_boxes: Sequence[Box], gt_points: Sequence[Point]
) -> np.ndarray:
    """(N, M) VisionReasoner pair scores: 1[IoU>0.5] + 1[L1<10] + 1[dist<30 and point in GT box]."""
    out = np.zeros((len(preds), len(gt_boxes)), np.float64)
    for i, (box, point) in enumerate(preds):
        for j, (gt_box, gt_point) in enumerate(zip(gt_boxes, gt_points)):
            out[i, j] = (
                float(box_iou(box, gt_box) > 0.5)
                + float(box_l1(box, gt_box) < 10.0)
                + float(math.dist(point, gt_point) < 30.0 and inside(point, gt_box))
            )
    return out


def _vision_reasoner_one(s: RewardSample) -> float:
    _ground_truth(s, "vision_reasoner", 1)
    preds = parse_vision_reasoner(s.completion)
    if not preds:
        return 0.0
    scores = pair_scores(preds, s.gt_boxes, [p[0] for p in s.gt_points])
    rows, cols = linear_sum_assignment(-scores)
    return float(scores[rows, cols].sum()) / max(len(preds), len(s.gt_boxes))


def vision_reasoner(samples: Sequence[RewardSample]) -> list[float]:
    """VisionReasoner's matched multi-object box/point reward (0..3)."""
    return [_vision_reasoner_one(s) for s in samples]
