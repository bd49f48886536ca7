"""Box mode: turn predictions lines that carry `"boxes"` into `"masks"` lines with SAM 2, before scoring.

    from components.evaluate.boxes import boxes_to_masks
    lines = boxes_to_masks(lines, ground_truths, "models:/vrt-tiny@champion", images=fetch)

Each box (image pixels, one per `[SEG]`) is a SAM 2 box prompt on the sample's image (from the
dataset, fetched for the boxed samples only); the resulting RLE replaces it. Lines without boxes pass through unchanged. Without a
SAM model URI the lines are returned as they are and the scorer refuses the boxes with a message
that says to pass `--sam`.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from evaluation.predictions import Prediction, load_predictions
from vrt.console import track
from vrt.errors import UserError


def _masks_line(model, pred: Prediction, image_bytes: bytes) -> str:
    from PIL import Image

    from models.boxes import masks_from_boxes

    image = Image.open(io.BytesIO(image_bytes)).convert("RGB")
    try:
        rles = masks_from_boxes(model, image, [list(b) for b in pred.boxes])
    except ValueError as e:
        raise UserError(f"predictions line {pred.line} (id {pred.id}): {e}") from None
    return json.dumps({"id": pred.id, "text": pred.text, "masks": rles})


def boxes_to_masks(
    lines: list[str], ground_truths, sam_uri: str, images: Callable[[list[str]], dict[str, bytes]] | None = None
) -> list[str]:
    """`lines` with every boxes line rewritten as a masks line (SAM 2 of the model at `sam_uri`);
    `images(ids)` fetches the images of boxed samples (default: the ground truths' own `image`)."""
    if not sam_uri:
        return lines
    try:
        preds = load_predictions(lines)
    except ValueError as e:
        raise UserError(str(e)) from None
    known = {gt.id: gt.image for gt in ground_truths}
    boxed = [p for p in preds.values() if p.boxes and p.id in known]  # unknown ids: the scorer names them
    if not boxed:
        return lines
    found = images([p.id for p in boxed]) if images else {k: v for k, v in known.items() if v is not None}
    boxed = [p for p in boxed if p.id in found]
    from components.evaluate.predict import load_model

    out = list(lines)
    with tempfile.TemporaryDirectory(prefix="vrt-sam-") as cache:
        model = load_model(sam_uri, Path(cache))
        for pred in track(boxed, "SAM 2 box prompts"):
            out[pred.line - 1] = _masks_line(model, pred, found[pred.id])
    return out
