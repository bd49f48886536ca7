"""KFP steps `predict` (model + dataset -> predictions JSONL) and `evaluate`: score a predictions JSONL on VRT-Bench or ReasonSeg.

Every metric goes to the KFP `Metrics` output (and its file, as flat JSON) and to MLflow; the
report is the KFP `HTML` output and an MLflow artifact. The predictions are a Dataset artifact
whose metadata says its format (`vrt-predictions-jsonl`). Logic: components/evaluate/step.py.
"""

from kfp import dsl

from components.images import BASE_IMAGE, TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE, install_kfp_package=False)
def predict(
    model: dsl.Input[dsl.Model],
    dataset: dsl.Input[dsl.Dataset],
    predictions: dsl.Output[dsl.Dataset],
    batch_size: int = 4,
    max_new_tokens: int = 0,
    limit: int = 0,
):
    """Run the model of `model` (JSON pointer with 'uri') over `dataset`; write the predictions JSONL.

    Args:
        model: Model manifest of the training step (uri of the model directory).
        dataset: Benchmark Dataset pointer from the dataset step.
        predictions: Output: one JSON line per sample (text, one RLE mask per [SEG], or boxes).
        batch_size: Samples per generate call.
        max_new_tokens: Generation budget per answer.
        limit: Score only the first `limit` samples (0: the whole benchmark).
    """
    from components.evaluate.predict import PredictOptions, predict_step
    from vrt.k8s.platform import check_step_env

    check_step_env()
    predict_step(model.path, dataset.path, predictions.path, PredictOptions(batch_size, max_new_tokens, limit))
    predictions.metadata.update({"format": "vrt-predictions-jsonl", "limit": limit})


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def evaluate(
    bench: str,
    dataset: dsl.Input[dsl.Dataset],
    predictions: dsl.Input[dsl.Dataset],
    metrics: dsl.Output[dsl.Metrics],
    report: dsl.Output[dsl.HTML],
    empty: str = "one",
    ignore: str = "foreground",
    cards: int = 5,
    sam_model_uri: str = "",
):
    """Score `predictions` (JSONL) against `dataset` (JSON pointer with 'uri') for `bench`.

    Args:
        bench: vrt-bench or reasonseg.
        dataset: Benchmark Dataset pointer (ground truth).
        predictions: Predictions JSONL of the predict step (or of any model writing that format).
        metrics: Output: every metric (VRT-Bench: R-LQ, R-SQ, A-mIoU, ..., per class; ReasonSeg: gIoU, cIoU) and counts.
        report: Output: HTML report with per-sample cards.
        empty: ReasonSeg: how a sample with empty GT and prediction scores (one or drop).
        ignore: ReasonSeg: a GT ignore region counts as foreground or is excluded (foreground or exclude).
        cards: Sample cards in the report.
        sam_model_uri: SAM 2 for box-mode predictions (model dir, s3:// or models:/NAME@ALIAS).
    """
    import json

    from components.evaluate.step import evaluate_step
    from vrt.k8s.platform import check_step_env

    check_step_env()
    flat = evaluate_step(bench, dataset.path, predictions.path, report.path, empty, ignore, cards, sam_model_uri)
    for name, value in flat.items():
        metrics.log_metric(name, value)
    with open(metrics.path, "w") as f:
        json.dump(flat, f, indent=2, sort_keys=True)
