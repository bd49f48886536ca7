"""The `evaluate` KFP step's logic: score, write the report, log metrics + report to MLflow.

    flat = evaluate_step("vrt-bench", "dataset.json", "predictions.jsonl", "report.html")

`dataset.json` is the Dataset artifact (a JSON pointer with at least {"uri": ...});
returns the flat metrics (`R-LQ`, `R-LQ/visf`, `count/samples`, ...) for KFP Metrics (one Metrics
artifact per benchmark). In MLflow (run `evaluate-<bench>`) they carry the benchmark's namespace
(`vrt_bench/R-LQ`, `reasonseg/gIoU`), so the benchmarks of one pipeline run never collide.
"""

from __future__ import annotations

import json
from pathlib import Path

from components.evaluate.scoring import score_uris
from evaluation.reasonseg import ReasonSegOptions
from evaluation.score import flat_metrics, namespaced
from vrt.errors import UserError


def dataset_uri(pointer_path: str) -> str:
    """The dataset URI from a Dataset artifact's JSON pointer file."""
    try:
        pointer = json.loads(Path(pointer_path).read_text())
        uri = pointer["uri"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(
            f"dataset artifact {pointer_path} is not a JSON pointer with a 'uri' ({e}): wire the dataset step's output"
        ) from None
    if not isinstance(uri, str) or not uri:
        raise UserError(f"dataset artifact {pointer_path}: 'uri' must be a non-empty string")
    return uri


def log_to_mlflow(bench: str, params: dict, flat: dict[str, float], metrics_json: dict, html: str) -> None:
    """One `evaluate-<bench>` run (nested under the pipeline's run): params, the namespaced metrics,
    metrics.json and report.html."""
    import mlflow

    from vrt.tracking import step_run

    with step_run(f"evaluate-{bench}", params=params):
        mlflow.log_metrics(namespaced(bench, flat))
        mlflow.log_text(json.dumps(metrics_json, indent=2, sort_keys=True), "metrics.json")
        mlflow.log_text(html, "report.html")


def evaluate_step(
    bench: str,
    dataset_pointer: str,
    predictions_path: str,
    report_path: str,
    empty: str = "one",
    ignore: str = "foreground",
    cards: int = 5,
    sam_model_uri: str = "",
) -> dict[str, float]:
    """Score (box-mode lines through the SAM 2 at `sam_model_uri`), write the HTML report to
    `report_path`, log to MLflow; returns the flat metrics."""
    uri = dataset_uri(dataset_pointer)
    try:
        options = ReasonSegOptions(empty=empty, ignore=ignore) if bench == "reasonseg" else None
    except ValueError as e:
        raise UserError(str(e)) from None
    out = score_uris(bench, uri, predictions_path, options, cards, sam_model_uri)
    Path(report_path).parent.mkdir(parents=True, exist_ok=True)
    Path(report_path).write_text(out.html, encoding="utf-8")
    flat = flat_metrics(out.metrics_json)
    params = {
        "bench": bench,
        "dataset": uri,
        **{f"reasonseg_{k}": v for k, v in out.metrics_json["options"].items()},
        **({"sam_model": sam_model_uri} if sam_model_uri else {}),
    }
    log_to_mlflow(bench, params, flat, out.metrics_json, out.html)
    return flat
