"""The evaluate step's logic: read a dataset and a predictions JSONL (local or s3://), score, write
`report.html` then `metrics.json` (written last: its presence means the output is complete).

    from components.evaluate.scoring import score_to_dir
    metrics = score_to_dir("vrt-bench", "data/vrt-bench", "preds.jsonl", "out/eval")
    metrics = score_to_dir("vrt-bench", "data/vrt-bench", "box-preds.jsonl", "out/eval", sam_uri="out/sft/model")

`vrt eval score` calls score_to_dir; `vrt eval run` is predict (writes the JSONL) then this.
Box-mode lines (`"boxes"`) become masks through the SAM 2 of the model at `sam_uri` first.
"""

from __future__ import annotations

import functools
import json

from components.evaluate.boxes import boxes_to_masks
from components.evaluate.ground_truth import load_ground_truth
from evaluation.reasonseg import ReasonSegOptions
from evaluation.score import ScoreOutput, score
from vrt import storage
from vrt.console import console
from vrt.data.reader import read_images
from vrt.errors import UserError

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"


def read_predictions(uri: str) -> list[str]:
    if not storage.exists(uri):
        raise UserError(f"predictions file {uri} not found: pass the JSONL written by `vrt eval predict`")
    try:
        return storage.read_bytes(uri).decode("utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise UserError(f"predictions file {uri} is not UTF-8 text (byte {e.start}): write JSONL") from None


def score_uris(
    bench: str,
    data_uri: str,
    predictions_uri: str,
    options: ReasonSegOptions | None = None,
    cards: int = 5,
    sam_uri: str = "",
) -> ScoreOutput:
    """Score (boxes -> masks with the SAM 2 at `sam_uri` first); every bad input becomes a UserError."""
    lines = read_predictions(predictions_uri)
    with console.status(f"reading {bench} ground truth from {data_uri}"):
        gts = load_ground_truth(bench, data_uri)
    images = functools.partial(read_images, data_uri)  # only the boxed samples and the report cards shown
    lines = boxes_to_masks(lines, gts, sam_uri, images)
    settings = {"data": data_uri, "predictions": predictions_uri, **({"sam": sam_uri} if sam_uri else {})}
    try:
        with console.status(f"scoring {len(gts)} samples"):
            return score(bench, gts, lines, options=options, settings=settings, cards=cards, images=images)
    except ValueError as e:
        raise UserError(str(e)) from None


def write_outputs(out: ScoreOutput, out_uri: str) -> None:
    """report.html first, metrics.json last (atomic writes)."""
    storage.write_bytes(storage.join(out_uri, REPORT_FILE), out.html.encode("utf-8"))
    text = json.dumps(out.metrics_json, indent=2, sort_keys=True) + "\n"
    storage.write_bytes(storage.join(out_uri, METRICS_FILE), text.encode("utf-8"))


def score_to_dir(
    bench: str,
    data_uri: str,
    predictions_uri: str,
    out_uri: str,
    options: ReasonSegOptions | None = None,
    cards: int = 5,
    sam_uri: str = "",
) -> dict:
    """Score and write both files under `out_uri`; returns the metrics.json content."""
    out = score_uris(bench, data_uri, predictions_uri, options, cards, sam_uri)
    write_outputs(out, out_uri)
    return out.metrics_json
