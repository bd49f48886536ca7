"""Per-sample report cards: which masks to draw in which colour, and the chips of the trace text.

A GT object keeps one colour (shared by a reasoning and an answer object with the same mask);
a prediction matched to it is drawn in that colour; unmatched and unscored masks are grey.

    worst, best = pick(vrt_cards(gts, result), n=5)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from evaluation import masks
from evaluation.reasonseg import ReasonSegGroundTruth, ReasonSegResult
from evaluation.render import UNMATCHED, Layer, colour
from evaluation.vrt_bench import VRTGroundTruth, VRTResult, VRTSampleScore


@dataclass(frozen=True)
class Card:
    id: str
    question: str
    summary: str
    score: float  # orders the cards (worst first)
    image: bytes | None
    height: int
    width: int
    gt: tuple[Layer, ...]
    pred: tuple[Layer, ...]  # the scored predicted masks
    text: str  # the model output ("" when there was no prediction)
    segs: tuple[Layer, ...]  # one per [SEG] in the text, in order
    seg_titles: tuple[str, ...]


def _gt_layers(gt: VRTGroundTruth) -> tuple[list[Layer], list[int], list[int]]:
    """Unique GT objects as layers, and the colour index of each reasoning / answer GT."""
    slots: dict[str, int] = {}
    labels: list[list[str]] = []
    rles: list[dict] = []
    index: dict[str, list[int]] = {"R": [], "A": []}
    for prefix, objs in (("R", gt.reasoning), ("A", gt.answer)):
        for j, rle in enumerate(objs):
            slot = slots.setdefault(rle["counts"], len(slots))
            if slot == len(rles):
                rles.append(rle)
                labels.append([])
            labels[slot].append(f"{prefix}{j + 1}")
            index[prefix].append(slot)
    layers = [Layer(r, colour(i), "·".join(lab)) for i, (r, lab) in enumerate(zip(rles, labels))]
    return layers, index["R"], index["A"]


def _vrt_card(gt: VRTGroundTruth, score: VRTSampleScore, text: str, pred_masks: Sequence[dict]) -> Card:
    layers, r_slot, a_slot = _gt_layers(gt)
    matched: dict[int, tuple[str, int, float, int]] = {}
    for prefix, pairs, slots, ious in (
        ("R", score.reasoning_pairs, r_slot, score.reasoning_ious),
        ("A", score.answer_pairs, a_slot, score.answer_ious),
    ):
        for k, g in pairs:
            if ious[g] > 0:  # Hungarian also pairs masks that do not overlap: show those as unmatched
                matched[k] = (prefix, g, float(ious[g]), slots[g])
    segs, titles, pred = [], [], []
    for k, (rle, role) in enumerate(zip(pred_masks, score.roles)):
        if k in matched:
            prefix, g, iou, slot = matched[k]
            layer, title = (
                Layer(rle, colour(slot), str(k + 1)),
                f"mask {k + 1} · {role} · matched {prefix}{g + 1} · IoU {iou:.3f}",
            )
        else:
            layer = Layer(rle, UNMATCHED, str(k + 1))
            title = f"mask {k + 1} · {role} · " + (
                "dropped (not scored)" if role == "dropped" else "unmatched"
            )
        segs.append(layer)
        titles.append(title)
        if role != "dropped":
            pred.append(layer)
    r = ", ".join(f"{v:.2f}" for v in score.reasoning_ious)
    a = ", ".join(f"{v:.2f}" for v in score.answer_ious)
    state = "no prediction · " if score.missing else ("" if score.has_answer else "no answer span · ")
    summary = f"{state}mean IoU {score.mean_iou:.3f} · reasoning GT IoUs [{r}] · answer GT IoUs [{a}]"
    return Card(
        gt.id,
        gt.question,
        summary,
        score.mean_iou,
        gt.image,
        gt.height,
        gt.width,
        tuple(layers),
        tuple(pred),
        text,
        tuple(segs),
        tuple(titles),
    )


def vrt_cards(gts: Sequence[VRTGroundTruth], result: VRTResult, preds: dict) -> list[Card]:
    """One card per sample of a VRT-Bench result (`preds`: id -> Prediction)."""
    cards = []
    for gt, score in zip(gts, result.samples):
        pred = preds.get(gt.id)
        cards.append(_vrt_card(gt, score, pred.text if pred else "", pred.masks if pred else ()))
    return cards


def reasonseg_cards(gts: Sequence[ReasonSegGroundTruth], result: ReasonSegResult, preds: dict) -> list[Card]:
    """One card per sample of a ReasonSeg result: target in colour 0, ignore region grey."""
    cards = []
    for gt, s in zip(gts, result.samples):
        pred = preds.get(gt.id)
        gt_layers = [Layer(gt.mask, colour(0), "GT")]
        if gt.ignore is not None and masks.area(gt.ignore):
            gt_layers.append(Layer(gt.ignore, UNMATCHED, "ignore"))
        segs, titles = [], []
        for k, rle in enumerate(pred.masks if pred else ()):
            scored = k in s.answer_indices
            segs.append(Layer(rle, colour(0) if scored else UNMATCHED, str(k + 1)))
            titles.append(f"mask {k + 1} · " + ("answer (scored, OR'd)" if scored else "not scored"))
        iou = "dropped by the empty rule" if s.iou is None else f"IoU {s.iou:.3f}"
        state = "no prediction · " if s.missing else ("" if s.has_answer else "no answer span · ")
        summary = f"{state}{iou} · I {s.intersection} px · U {s.union} px"
        cards.append(
            Card(
                gt.id,
                gt.question,
                summary,
                1.0 if s.iou is None else s.iou,
                gt.image,
                gt.height,
                gt.width,
                tuple(gt_layers),
                (Layer(s.prediction, colour(0), "pred"),),
                pred.text if pred else "",
                tuple(segs),
                tuple(titles),
            )
        )
    return cards


def pick(cards: list[Card], n: int) -> tuple[list[Card], list[Card]]:
    """The n worst (lowest score first) and n best (highest first) cards, without repeats."""
    ordered = sorted(cards, key=lambda c: (c.score, c.id))
    worst = ordered[:n]
    best = [c for c in reversed(ordered[len(worst) :])][:n]
    return worst, best
