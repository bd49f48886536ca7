"""`vrt eval ...` commands: score a predictions JSONL against VRT-Bench or ReasonSeg.

vrt eval score --bench vrt-bench --data data/vrt-bench --predictions preds.jsonl --out out/eval
"""

from __future__ import annotations

import typer

from vrt.errors import UserError

app = typer.Typer(help="Score model predictions on VRT-Bench and ReasonSeg.", no_args_is_help=True)


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
) -> None:
    """Score predictions (one JSONL line per sample: id, text, one RLE mask per [SEG]) and write
    metrics.json and a self-contained report.html.

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
    result = score_to_dir(bench, data, predictions, out, options if bench == "reasonseg" else None, cards)
    values = ", ".join(f"{k} {100 * v:.1f}" for k, v in result["metrics"].items() if v is not None)
    console.print(f"{bench}: {values} (%); counts {result['counts']}")
    console.print(f"wrote {out}/metrics.json and {out}/report.html")
