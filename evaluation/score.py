"""One call from ground truth + predictions JSONL lines to `metrics.json` content and report HTML.

    out = score("vrt-bench", gts, lines, settings={"data": uri})
    out.metrics_json["metrics"]["R-LQ"], out.html

`metrics.json` layout: {"bench", "metrics": {name: fraction|null}, "by_class": {class: {...}},
"counts": {...}, "options": {...}}; null where a metric is undefined (no GT objects).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace

from evaluation.cards import Card, pick, reasonseg_cards, vrt_cards
from evaluation.predictions import check_no_boxes, load_predictions
from evaluation.reasonseg import ReasonSegGroundTruth, ReasonSegOptions, score_reasonseg
from evaluation.report import ReportData, render_report
from evaluation.vrt_bench import VRTGroundTruth, score_vrt

BENCHES = ("vrt-bench", "reasonseg")
# Each benchmark's headline metrics and the prefix its metrics carry where several benchmarks' metrics
# meet (MLflow runs, registered versions, the promotion gate): `vrt_bench/A-mIoU`, `reasonseg/gIoU`.
HEADLINE = {"vrt-bench": ("R-LQ", "R-SQ", "A-mIoU", "A-LQ", "A-SQ"), "reasonseg": ("gIoU", "cIoU")}
NAMESPACE = {"vrt-bench": "vrt_bench", "reasonseg": "reasonseg"}


@dataclass(frozen=True)
class ScoreOutput:
    metrics_json: dict
    html: str
    worst: list[Card]
    best: list[Card]


def flat_metrics(metrics_json: dict) -> dict[str, float]:
    """Metrics, per-class metrics (`R-LQ/visf`) and counts (`count/samples`) as one flat dict of numbers,
    for KFP Metrics and MLflow (whose names may not hold `#`); undefined (null) metrics are left out."""
    out = {k: float(v) for k, v in metrics_json["metrics"].items() if v is not None}
    for cls, values in metrics_json["by_class"].items():
        out.update(
            {
                f"{k}/{cls.lstrip('#')}": float(v)
                for k, v in values.items()
                if v is not None and k != "samples"
            }
        )
    out.update({f"count/{k}": float(v) for k, v in metrics_json["counts"].items()})
    return out


def namespaced(bench: str, flat: dict[str, float]) -> dict[str, float]:
    """`flat` metrics of `bench` under its namespace (`R-LQ/visf` -> `vrt_bench/R-LQ/visf`)."""
    if bench not in NAMESPACE:
        raise ValueError(f"unknown benchmark {bench!r}: use one of {', '.join(BENCHES)}")
    return {f"{NAMESPACE[bench]}/{k}": v for k, v in flat.items()}


def score(
    bench: str,
    gts: Sequence[VRTGroundTruth] | Sequence[ReasonSegGroundTruth],
    prediction_lines: Iterable[str],
    options: ReasonSegOptions | None = None,
    settings: dict[str, str] | None = None,
    cards: int = 5,
    images: Callable[[list[str]], dict[str, bytes]] | None = None,
) -> ScoreOutput:
    """Score a benchmark; ValueError for bad predictions (unknown ids, malformed lines, sizes).
    `images(ids)` supplies the images of the cards shown when the ground truths carry none."""
    if bench not in BENCHES:
        raise ValueError(f"unknown benchmark {bench!r}: use one of {', '.join(BENCHES)}")
    if cards < 0:
        raise ValueError(f"cards must be >= 0, got {cards}")
    preds = load_predictions(prediction_lines)
    check_no_boxes(preds)
    if bench == "vrt-bench":
        result = score_vrt(gts, preds)
        by_class, opts, all_cards = result.by_class, {}, vrt_cards(gts, result, preds)
    else:
        options = options or ReasonSegOptions()
        result = score_reasonseg(gts, preds, options)
        by_class, opts, all_cards = {}, asdict(options), reasonseg_cards(gts, result, preds)
    counts = {**result.counts, "truncated": sum(p.truncated for p in preds.values())}
    metrics_json = {
        "bench": bench,
        "metrics": result.metrics,
        "by_class": by_class,
        "counts": counts,
        "options": opts,
    }
    worst, best = pick(all_cards, cards)
    if images is not None:
        found = images([c.id for c in worst + best if c.image is None])
        worst, best = ([replace(c, image=c.image or found.get(c.id)) for c in group] for group in (worst, best))
    report = ReportData(
        bench=bench,
        metrics=result.metrics,
        counts=counts,
        settings={"benchmark": bench, **(settings or {}), **{f"option {k}": v for k, v in opts.items()}},
        worst=worst,
        best=best,
        by_class=by_class,
    )
    return ScoreOutput(metrics_json, render_report(report), worst, best)
