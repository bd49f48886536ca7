"""`vrt eval ...` commands: predict with a model, score a predictions JSONL against VRT-Bench or ReasonSeg.

vrt eval predict --model out/sft/model --data data/vrt-bench --out preds.jsonl
vrt eval run --model models:/vrt-tiny@champion --bench vrt-bench --data data/vrt-bench --out out/eval
vrt eval score --bench vrt-bench --data data/vrt-bench --predictions preds.jsonl --out out/eval
vrt eval score --bench vrt-bench --data data/vrt-bench --predictions boxes.jsonl --sam out/sft/model --out out/eval
"""

from __future__ import annotations

import typer

from vrt.errors import UserError

app = typer.Typer(help="Predict with a model and score predictions on VRT-Bench and ReasonSeg.", no_args_is_help=True)

MODEL_HELP = "Model directory, s3://BUCKET/PREFIX, or models:/NAME@ALIAS (MLflow registry)."
DATA_HELP = "Canonical dataset folder or s3://BUCKET/PREFIX (has manifest.json)."
SAM_HELP = (
    "Model whose SAM 2 turns box-mode predictions (\"boxes\") into masks: directory, s3:// or models:/NAME@ALIAS."
)


def _predict_options(batch_size: int, max_new_tokens: int, limit: int):
    from components.evaluate.predict import PredictOptions

    return PredictOptions(batch_size=batch_size, max_new_tokens=max_new_tokens, limit=limit)


@app.command()
def predict(
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    data: str = typer.Option(..., "--data", help=DATA_HELP),
    out: str = typer.Option(..., "--out", help="Predictions JSONL to write (local path or s3:// URI)."),
    batch_size: int = typer.Option(4, "--batch-size", help="Samples per generate call."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Generation budget per sample."),
    limit: int = typer.Option(0, "--limit", help="Only the first N samples (0: all)."),
) -> None:
    """Run a model over a dataset and write the predictions JSONL (one line per sample).

    Example: vrt eval predict --model .vrt/work/grpo/model --data .vrt/work/datasets/bench --out preds.jsonl
    """
    from components.evaluate.predict import predict_to_file
    from vrt.console import console

    n = predict_to_file(model, data, out, _predict_options(batch_size, max_new_tokens, limit))
    console.print(f"wrote {n} predictions to {out}")


@app.command()
def run(
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    bench: str = typer.Option("vrt-bench", "--bench", help="vrt-bench or reasonseg."),
    data: str = typer.Option(..., "--data", help=DATA_HELP),
    out: str = typer.Option(..., "--out", help="Output folder: predictions.jsonl, metrics.json, report.html."),
    batch_size: int = typer.Option(4, "--batch-size", help="Samples per generate call."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Generation budget per sample."),
    limit: int = typer.Option(0, "--limit", help="Only the first N samples (0: all; the rest score as empty)."),
    sam: str = typer.Option("", "--sam", help=SAM_HELP),
) -> None:
    """Predict, then score: the whole evaluation of a model in one command.

    Example: vrt eval run --model models:/vrt-tiny@champion --data .vrt/work/datasets/bench --out out/eval
    """
    from components.evaluate.predict import predict_to_file
    from vrt import storage

    preds = storage.join(out, "predictions.jsonl")
    predict_to_file(model, data, preds, _predict_options(batch_size, max_new_tokens, limit))
    score(bench=bench, data=data, predictions=preds, out=out, empty="one", ignore="foreground", cards=5, sam=sam)


@app.command()
def score(
    bench: str = typer.Option(..., "--bench", help="vrt-bench or reasonseg."),
    data: str = typer.Option(
        ..., "--data", help="Canonical dataset folder or s3://BUCKET/PREFIX (has manifest.json)."
    ),
    predictions: str = typer.Option(
        ..., "--predictions", help="Predictions JSONL (local path or s3:// URI)."
    ),
    out: str = typer.Option(
        ..., "--out", help="Output folder or s3:// prefix for metrics.json and report.html."
    ),
    empty: str = typer.Option(
        "one",
        "--empty",
        help="ReasonSeg, GT and prediction both empty: one (LISA, IoU 1.0) or drop (Seg-Zero).",
    ),
    ignore: str = typer.Option(
        "foreground", "--ignore", help="ReasonSeg ignore region: foreground (HF data) or exclude (LISA)."
    ),
    cards: int = typer.Option(5, "--cards", help="Worst and best sample cards in the report (each)."),
    sam: str = typer.Option("", "--sam", help=SAM_HELP),
) -> None:
    """Score predictions (one JSONL line per sample: id, text, one RLE mask per [SEG], or one
    [x1, y1, x2, y2] box per [SEG] with --sam) and write metrics.json and a self-contained report.html.

    Example: vrt eval score --bench vrt-bench --data data/vrt-bench --predictions preds.jsonl --out out/eval
    """
    from components.evaluate.scoring import score_to_dir
    from evaluation.reasonseg import ReasonSegOptions
    from evaluation.score import BENCHES
    from vrt.console import console

    if bench not in BENCHES:
        raise UserError(f"--bench {bench!r} is unknown: use one of {', '.join(BENCHES)}")
    if cards < 0:
        raise UserError(f"--cards must be >= 0, got {cards}")
    try:
        options = ReasonSegOptions(empty=empty, ignore=ignore)
    except ValueError as e:
        raise UserError(f"{e} (--empty / --ignore)") from None
    result = score_to_dir(bench, data, predictions, out, options if bench == "reasonseg" else None, cards, sam)
    values = ", ".join(f"{k} {100 * v:.1f}" for k, v in result["metrics"].items() if v is not None)
    console.print(f"{bench}: {values} (%); counts {result['counts']}")
    console.print(f"wrote {out}/metrics.json and {out}/report.html")
