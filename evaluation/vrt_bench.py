"""VRT-Bench scoring (TASKS.md §1.3): R-LQ, R-SQ, A-mIoU, A-LQ, A-SQ, overall and per class.

Per sample, reasoning and answer masks are matched separately to their GT objects
(Hungarian on 1 − IoU); each GT object gets its matched IoU (0 if unmatched); the per-GT
IoUs are pooled over the benchmark. No answer span ⇒ every GT IoU of the sample is 0.

    result = score_vrt(ground_truths, load_predictions(lines))
    result.metrics["R-LQ"], result.by_class["#loc"], result.counts
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from evaluation import masks
from evaluation.matching import hungarian_ious
from evaluation.predictions import Prediction, check_known_ids, check_size
from evaluation.trace import ANSWER, DROPPED, REASONING, parse_trace

CLASSES = ("#visf", "#loc", "#comp", "#func")
THRESHOLD = 0.5  # a GT object is localised when its IoU is strictly greater


@dataclass(frozen=True)
class VRTGroundTruth:
    id: str
    height: int
    width: int
    reasoning: tuple[dict, ...]  # COCO RLEs of the GT reasoning objects, in trace order
    answer: tuple[dict, ...]  # COCO RLEs of the GT answer objects
    classes: tuple[str, ...] = ()
    image: bytes | None = None
    question: str = ""


@dataclass(frozen=True)
class VRTSampleScore:
    id: str
    reasoning_ious: np.ndarray  # one per GT reasoning object
    answer_ious: np.ndarray  # one per GT answer object
    # (mask index in the prediction's list, GT index) for each matched pair
    reasoning_pairs: tuple[tuple[int, int], ...]
    answer_pairs: tuple[tuple[int, int], ...]
    has_answer: bool
    missing: bool  # no prediction line for this sample
    roles: tuple[str, ...] = ()

    @property
    def mean_iou(self) -> float:
        """Mean over all GT objects (reasoning and answer): orders samples in the report."""
        pool = np.concatenate([self.reasoning_ious, self.answer_ious])
        return float(pool.mean()) if pool.size else 0.0


@dataclass(frozen=True)
class VRTResult:
    metrics: dict[str, float | None]
    by_class: dict[str, dict[str, float | None]]
    counts: dict[str, int]
    samples: list[VRTSampleScore] = field(repr=False)


def summarise(reasoning_ious: np.ndarray, answer_ious: np.ndarray) -> dict[str, float | None]:
    """The five metrics from pooled per-GT IoUs; None where the pool is empty (undefined)."""
    out: dict[str, float | None] = {}
    for prefix, pool in (("R", reasoning_ious), ("A", answer_ious)):
        hits = pool[pool > THRESHOLD]
        out[f"{prefix}-LQ"] = float(hits.size / pool.size) if pool.size else None
        out[f"{prefix}-SQ"] = (float(hits.mean()) if hits.size else 0.0) if pool.size else None
    out["A-mIoU"] = float(answer_ious.mean()) if answer_ious.size else None
    return {k: out[k] for k in ("R-LQ", "R-SQ", "A-mIoU", "A-LQ", "A-SQ")}


def _match(pred_masks: list[dict], idx: list[int], gts: tuple[dict, ...]) -> tuple[np.ndarray, tuple]:
    ious, pairs = hungarian_ious(masks.iou_matrix([pred_masks[i] for i in idx], list(gts)))
    return ious, tuple((idx[p], g) for p, g in pairs)


def score_sample(gt: VRTGroundTruth, pred: Prediction | None) -> VRTSampleScore:
    """Per-GT IoUs of one sample; a missing prediction scores as an empty one."""
    zeros_r, zeros_a = np.zeros(len(gt.reasoning)), np.zeros(len(gt.answer))
    if pred is None:
        return VRTSampleScore(gt.id, zeros_r, zeros_a, (), (), has_answer=False, missing=True)
    check_size(pred, gt.height, gt.width)
    trace = parse_trace(pred.text)
    if not trace.has_answer:
        return VRTSampleScore(gt.id, zeros_r, zeros_a, (), (), False, False, trace.roles)
    r_ious, r_pairs = _match(list(pred.masks), trace.indices(REASONING), gt.reasoning)
    a_ious, a_pairs = _match(list(pred.masks), trace.indices(ANSWER), gt.answer)
    return VRTSampleScore(gt.id, r_ious, a_ious, r_pairs, a_pairs, True, False, trace.roles)


def _pool(scores: Sequence[VRTSampleScore], attr: str) -> np.ndarray:
    parts = [getattr(s, attr) for s in scores]
    return np.concatenate(parts) if parts else np.zeros(0)


def _counts(gts: Sequence[VRTGroundTruth], scores: Sequence[VRTSampleScore]) -> dict[str, int]:
    roles = [r for s in scores for r in s.roles]
    return {
        "samples": len(gts),
        "gt_reasoning_objects": sum(len(g.reasoning) for g in gts),
        "gt_answer_objects": sum(len(g.answer) for g in gts),
        "missing_predictions": sum(s.missing for s in scores),
        "predictions_without_answer_span": sum((not s.missing) and (not s.has_answer) for s in scores),
        "predicted_reasoning_masks": roles.count(REASONING),
        "predicted_answer_masks": roles.count(ANSWER),
        "dropped_masks": roles.count(DROPPED),
    }


def score_vrt(gts: Sequence[VRTGroundTruth], preds: Mapping[str, Prediction]) -> VRTResult:
    """Score predictions against the benchmark; ValueError on unknown ids or wrong mask sizes."""
    ids = [g.id for g in gts]
    if len(set(ids)) != len(ids):
        raise ValueError("the ground truth holds duplicate sample ids: the dataset is not a valid benchmark")
    check_known_ids(dict(preds), ids)
    scores = [score_sample(g, preds.get(g.id)) for g in gts]
    metrics = summarise(_pool(scores, "reasoning_ious"), _pool(scores, "answer_ious"))
    by_class = {}
    for cls in CLASSES:
        members = [s for g, s in zip(gts, scores) if cls in g.classes]
        by_class[cls] = summarise(_pool(members, "reasoning_ious"), _pool(members, "answer_ious"))
        by_class[cls]["samples"] = len(members)
    return VRTResult(metrics=metrics, by_class=by_class, counts=_counts(gts, scores), samples=scores)
