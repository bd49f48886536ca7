"""ReasonSeg scoring (TASKS.md §2): gIoU (mean of per-sample I/U) and cIoU (ΣI / ΣU).

The predicted mask of a sample is the union (OR) of its answer masks; an output without an
answer span predicts nothing (I = 0, U = |GT|) and is counted as unparseable.

Options (`ReasonSegOptions`), each reporting how many samples it touched:
- empty (GT and prediction both empty): "one" (default, LISA's evaluation: the sample scores
  IoU 1.0 in gIoU and adds 0 to ΣI and ΣU) or "drop" (Seg-Zero's code: the sample is left out).
- ignore (a GT ignore region, when the dataset has one): "foreground" (default, the HF
  conversion's convention: ignore pixels are part of the GT) or "exclude" (LISA's evaluation:
  ignore pixels are removed from prediction and GT before I and U).

    result = score_reasonseg(ground_truths, load_predictions(lines), ReasonSegOptions())
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from evaluation import masks
from evaluation.predictions import Prediction, check_known_ids, check_size
from evaluation.trace import ANSWER, parse_trace

EMPTY_RULES = ("one", "drop")
IGNORE_RULES = ("foreground", "exclude")


@dataclass(frozen=True)
class ReasonSegOptions:
    empty: str = "one"
    ignore: str = "foreground"

    def __post_init__(self) -> None:
        if self.empty not in EMPTY_RULES:
            raise ValueError(f"empty rule {self.empty!r} is unknown: use one of {', '.join(EMPTY_RULES)}")
        if self.ignore not in IGNORE_RULES:
            raise ValueError(f"ignore rule {self.ignore!r} is unknown: use one of {', '.join(IGNORE_RULES)}")


@dataclass(frozen=True)
class ReasonSegGroundTruth:
    id: str
    height: int
    width: int
    mask: dict  # COCO RLE of the target
    ignore: dict | None = None  # COCO RLE of the ignore region, when the dataset keeps it apart
    image: bytes | None = None
    question: str = ""


@dataclass(frozen=True)
class ReasonSegSampleScore:
    id: str
    intersection: int
    union: int
    iou: float | None  # None when the sample is dropped by the empty rule
    prediction: dict  # the scored predicted mask (union of answer masks)
    answer_indices: tuple[int, ...]  # which predicted masks were answer masks
    has_answer: bool
    missing: bool
    empty_rule: bool  # GT and prediction both empty
    ignore_rule: bool  # a non-empty ignore region changed the GT or the I/U


@dataclass(frozen=True)
class ReasonSegResult:
    metrics: dict[str, float | None]
    counts: dict[str, int]
    options: ReasonSegOptions
    samples: list[ReasonSegSampleScore] = field(repr=False)


def _areas(gt: ReasonSegGroundTruth, pred: dict, rule: str) -> tuple[int, int, bool]:
    """Intersection, union and whether a non-empty ignore region took part."""
    target, ignore = gt.mask, gt.ignore
    if ignore is None or masks.area(ignore) == 0:
        ignore = None
    elif rule == "foreground":
        target = masks.union([target, ignore])
    both, either = masks.intersect(pred, target), masks.union([pred, target])
    if ignore is None or rule == "foreground":
        return masks.area(both), masks.area(either), ignore is not None
    inter = masks.area(both) - masks.area(masks.intersect(both, ignore))
    return inter, masks.area(either) - masks.area(masks.intersect(either, ignore)), True


def score_sample(
    gt: ReasonSegGroundTruth, pred: Prediction | None, options: ReasonSegOptions
) -> ReasonSegSampleScore:
    """I, U and IoU of one sample under `options`."""
    answer_idx: tuple[int, ...] = ()
    has_answer = False
    if pred is not None:
        check_size(pred, gt.height, gt.width)
        trace = parse_trace(pred.text)
        has_answer = trace.has_answer
        answer_idx = tuple(trace.indices(ANSWER))
    for name, rle in (("GT mask", gt.mask), ("ignore region", gt.ignore)):
        if rle is not None and masks.size_of(rle) != (gt.height, gt.width):
            raise ValueError(
                f"sample {gt.id}: {name} size {rle['size']} is not the image size {gt.height}x{gt.width}"
            )
    predicted = masks.union([pred.masks[i] for i in answer_idx] if pred else [], (gt.height, gt.width))
    inter, uni, ignored = _areas(gt, predicted, options.ignore)
    empty = uni == 0
    if empty:
        iou = 1.0 if options.empty == "one" else None
    else:
        iou = inter / uni
    return ReasonSegSampleScore(
        gt.id, inter, uni, iou, predicted, answer_idx, has_answer, pred is None, empty, ignored
    )


def score_reasonseg(
    gts: Sequence[ReasonSegGroundTruth], preds: Mapping[str, Prediction], options: ReasonSegOptions
) -> ReasonSegResult:
    """gIoU and cIoU over the set with counts of what each rule touched."""
    ids = [g.id for g in gts]
    if len(set(ids)) != len(ids):
        raise ValueError("the ground truth holds duplicate sample ids: the dataset is not a valid benchmark")
    check_known_ids(dict(preds), ids)
    scores = [score_sample(g, preds.get(g.id), options) for g in gts]
    kept = [s for s in scores if s.iou is not None]
    total_u = sum(s.union for s in kept)
    metrics = {
        "gIoU": sum(s.iou for s in kept) / len(kept) if kept else None,
        "cIoU": sum(s.intersection for s in kept) / total_u if total_u else None,
    }
    counts = {
        "samples": len(gts),
        "scored_samples": len(kept),
        "missing_predictions": sum(s.missing for s in scores),
        "predictions_without_answer_span": sum((not s.missing) and (not s.has_answer) for s in scores),
        "empty_rule_samples": sum(s.empty_rule for s in scores),
        "ignore_rule_samples": sum(s.ignore_rule for s in scores),
    }
    return ReasonSegResult(metrics=metrics, counts=counts, options=options, samples=scores)
