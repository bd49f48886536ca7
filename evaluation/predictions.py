"""The predictions contract: JSONL, one line per sample.

    {"id": "<sample id>", "text": "<think>…</think><answer>…</answer>",
     "masks": [{"size": [h, w], "counts": "<COCO RLE>"}, …]}      # one per [SEG], in order

A line may add `"truncated": true`: the model used its whole token budget without closing
`</answer>` (counted as `truncated` in metrics.json; the text is scored as it is).

Box-mode models write `"boxes": [[x1, y1, x2, y2], …]` (image pixels, one per [SEG], in order)
instead of `"masks"`; they are parsed and validated here and must be turned into masks with SAM 2
(components/evaluate/boxes.py, `--sam`) before scoring: `check_no_boxes` refuses them otherwise.

    preds = load_predictions(Path("predictions.jsonl").read_text().splitlines())
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

from evaluation import masks
from evaluation.trace import SEG

BOXES_NEED_SAM = (
    "has 'boxes': box-mode predictions become masks through SAM 2 box prompts before scoring; "
    "pass --sam MODEL (a model directory, s3:// prefix or models:/NAME@ALIAS) to `vrt eval score` / "
    "`vrt eval run` (sam_model_uri in the evaluate step)"
)

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Prediction:
    id: str
    text: str
    masks: tuple[dict, ...]  # validated RLEs, one per [SEG] (empty when the line has boxes)
    line: int  # 1-based line number in the JSONL file
    boxes: tuple[Box, ...] = ()  # box mode: [x1, y1, x2, y2] pixels, one per [SEG]
    truncated: bool = False  # the model hit its token budget without closing </answer>


def _is_number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _parse_boxes(obj: dict, where: str, n_seg: int) -> tuple[Box, ...]:
    boxes = obj["boxes"]
    if obj.get("masks"):
        raise ValueError(f"{where}: has both 'masks' and 'boxes': write one of them (one per [SEG])")
    if not isinstance(boxes, list):
        raise ValueError(f"{where}: 'boxes' must be a list of [x1, y1, x2, y2] boxes, one per [SEG]")  # noqa: TRY004 (ValueError is this library's bad-input contract)
    out = []
    for k, box in enumerate(boxes):
        if not isinstance(box, list) or len(box) != 4 or not all(_is_number(v) for v in box):
            raise ValueError(f"{where}: box {k} {box!r} is not 4 finite numbers [x1, y1, x2, y2] (pixels)")
        out.append(tuple(float(v) for v in box))
    if len(out) != n_seg:
        raise ValueError(
            f"{where}: {len(out)} boxes for {n_seg} [SEG] tokens in 'text': write exactly one box per [SEG], in order"
        )
    return tuple(out)


def _parse_line(raw: str, line: int) -> Prediction:
    where = f"predictions line {line}"
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where}: malformed JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError(  # noqa: TRY004 (ValueError is this library's bad-input contract)
            f'{where}: expected a JSON object {{"id", "text", "masks"}}, got {type(obj).__name__}'
        )
    sample_id, text = obj.get("id"), obj.get("text")
    if not isinstance(sample_id, str) or not sample_id:
        raise ValueError(f"{where}: 'id' must be a non-empty string (the dataset sample id)")
    if not isinstance(text, str):
        raise ValueError(f"{where} (id {sample_id}): 'text' must be a string (the model output)")  # noqa: TRY004 (ValueError is this library's bad-input contract)
    truncated = obj.get("truncated", False)
    if not isinstance(truncated, bool):
        raise ValueError(f"{where} (id {sample_id}): 'truncated' must be true or false")  # noqa: TRY004 (ValueError is this library's bad-input contract)
    if "boxes" in obj:
        boxes = _parse_boxes(obj, f"{where} (id {sample_id})", text.count(SEG))
        return Prediction(id=sample_id, text=text, masks=(), line=line, boxes=boxes, truncated=truncated)
    rles = obj.get("masks")
    if not isinstance(rles, list):
        raise ValueError(  # noqa: TRY004 (ValueError is this library's bad-input contract)
            f"{where} (id {sample_id}): 'masks' must be a list of COCO RLE objects, one per [SEG]"
        )
    checked = []
    for k, rle in enumerate(rles):
        try:
            checked.append(masks.check(rle))
        except ValueError as e:
            raise ValueError(f"{where} (id {sample_id}): mask {k} is not a valid COCO RLE: {e}") from None
    n_seg = text.count(SEG)
    if n_seg != len(checked):
        raise ValueError(
            f"{where} (id {sample_id}): {len(checked)} masks for {n_seg} [SEG] tokens in 'text': "
            "write exactly one mask per [SEG], in order"
        )
    return Prediction(id=sample_id, text=text, masks=tuple(checked), line=line, truncated=truncated)


def load_predictions(lines: Iterable[str]) -> dict[str, Prediction]:
    """Parse JSONL lines (blank lines skipped) into {id: Prediction}; ValueError names the bad line."""
    out: dict[str, Prediction] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        pred = _parse_line(raw, number)
        if pred.id in out:
            raise ValueError(
                f"predictions line {number}: id {pred.id} already appeared on line {out[pred.id].line}: "
                "write one line per sample"
            )
        out[pred.id] = pred
    return out


def check_known_ids(preds: dict[str, Prediction], known: Iterable[str]) -> None:
    """ValueError listing (up to 10) prediction ids that are not in the dataset."""
    known_set = set(known)
    unknown = sorted(i for i in preds if i not in known_set)
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" … ({len(unknown)} in all)" if len(unknown) > 10 else "")
        raise ValueError(
            f"{len(unknown)} prediction id(s) are not in the dataset: {shown}; "
            "score predictions made on this dataset (check --data)"
        )


def check_no_boxes(preds: dict[str, Prediction]) -> None:
    """ValueError naming the first prediction whose boxes were not turned into masks."""
    for pred in preds.values():
        if pred.boxes:
            raise ValueError(f"predictions line {pred.line} (id {pred.id}) {BOXES_NEED_SAM}")


def check_size(pred: Prediction, height: int, width: int) -> None:
    """ValueError naming the sample when a mask is not at the image size."""
    for k, rle in enumerate(pred.masks):
        if masks.size_of(rle) != (height, width):
            raise ValueError(
                f"sample {pred.id} (predictions line {pred.line}): mask {k} has size {rle['size']} but the "
                f"image is {height}x{width} (h x w): write masks at the original image size"
            )
