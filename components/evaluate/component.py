"""KFP steps `predict` (model + dataset -> predictions JSONL) and `evaluate`: score a predictions JSONL on VRT-Bench or ReasonSeg.

Every metric goes to the KFP `Metrics` output (and its file, as flat JSON) and to MLflow; the
report is the KFP `HTML` output and an MLflow artifact. Logic: components/evaluate/step.py.
"""

from kfp import dsl

from components.images import BASE_IMAGE, TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE)
def predict(
    model: dsl.Input[dsl.Model],
    dataset: dsl.Input[dsl.Dataset],
    predictions: dsl.Output[dsl.Artifact],
    batch_size: int = 4,
    max_new_tokens: int = 0,
    limit: int = 0,
):
    """Run the model of `model` (JSON pointer with 'uri') over `dataset`; write the predictions JSONL."""
    from components.evaluate.predict import PredictOptions, predict_step

    predict_step(model.path, dataset.path, predictions.path, PredictOptions(batch_size, max_new_tokens, limit))


@dsl.component(base_image=BASE_IMAGE)
def evaluate(
    bench: str,
    dataset: dsl.Input[dsl.Dataset],
    predictions: dsl.Input[dsl.Artifact],
    metrics: dsl.Output[dsl.Metrics],
    report: dsl.Output[dsl.HTML],
    empty: str = "one",
    ignore: str = "foreground",
    cards: int = 5,
    sam_model_uri: str = "",
):
    """Score `predictions` (JSONL) against `dataset` (JSON pointer with 'uri') for `bench`; box-mode
    predictions need `sam_model_uri` (model dir, s3:// or models:/NAME@ALIAS) for SAM 2 box prompts."""
    import json

    from components.evaluate.step import evaluate_step

    flat = evaluate_step(bench, dataset.path, predictions.path, report.path, empty, ignore, cards, sam_model_uri)
    for name, value in flat.items():
        metrics.log_metric(name, value)
    with open(metrics.path, "w") as f:
        json.dump(flat, f, indent=2, sort_keys=True)
