"""Scoring time on a benchmark shaped like the real VRT-Bench, printed in seconds.

304 samples, ~30 pool objects each (polygons), masks at 1500x2250, 3.34 reasoning and
1.26 answer GT objects and 4.6 predicted masks per sample on average (jittered GT polygons,
some random). Times: parsing + validating the predictions, scoring, cards + HTML report, and
the whole `vrt eval score` path (canonical Parquet dataset on disk -> metrics.json + report.html).

    .venv/bin/python benchmarks/eval_score.py [--samples 304] [--seed 0]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from pycocotools import mask as cocomask

H, W, POOL = 1500, 2250, 30


def polygon(rng: np.random.Generator, cx: float, cy: float, r: float, jitter: float = 0.25) -> list[float]:
    angles = np.sort(rng.uniform(0, 2 * np.pi, 16))
    radii = r * (1 + rng.uniform(-jitter, jitter, 16))
    xs = np.clip(cx + radii * np.cos(angles), 0, W - 1)
    ys = np.clip(cy + radii * np.sin(angles), 0, H - 1)
    return np.stack([xs, ys], 1).ravel().tolist()


def to_counts(poly: list[float]) -> str:
    return cocomask.merge(cocomask.frPyObjects([poly], H, W))["counts"].decode("ascii")


def shapes(rng: np.random.Generator) -> list[tuple[float, float, float]]:
    return [(rng.uniform(150, W - 150), rng.uniform(150, H - 150), rng.uniform(40, 400)) for _ in range(POOL)]


def make_sample(i: int, rng: np.random.Generator) -> tuple[dict, dict]:
    """One canonical row (without image) and its prediction line."""
    pool = shapes(rng)
    polys = [polygon(rng, *s) for s in pool]
    n_r = 3 + int(rng.random() < 0.34)
    r_ids = [int(j) for j in rng.choice(POOL, n_r, replace=False)]
    a_ids = r_ids[: 1 + int(rng.random() < 0.26)]
    n_pred_r = max(0, n_r + int(rng.integers(-1, 2)))
    pred_r = [polygon(rng, *pool[j], jitter=0.3) for j in r_ids[:n_pred_r]]
    pred_r += [polygon(rng, *shapes(rng)[0]) for _ in range(max(0, n_pred_r - n_r))]
    pred_a = [polygon(rng, *pool[j], jitter=0.3) for j in a_ids]
    text = (
        "<think>"
        + " ".join("obj [SEG]" for _ in pred_r)
        + "</think><answer>"
        + " ".join("it [SEG]" for _ in pred_a)
        + "</answer>"
    )
    row = {
        "id": f"s{i:04d}",
        "source": "vrt-bench",
        "width": W,
        "height": H,
        "question": f"question {i}?",
        "objects": [
            {"id": str(j), "caption": None, "rle": to_counts(p), "box": None} for j, p in enumerate(polys)
        ],
        "reasoning_ids": [str(j) for j in r_ids],
        "answer_ids": [str(j) for j in a_ids],
        "reasoning": None,
        "answer": None,
        "class_ids": [c for c in ("#visf", "#loc", "#comp", "#func") if rng.random() < 0.4] or ["#visf"],
        "extra": "{}",
    }
    pred = {
        "id": row["id"],
        "text": text,
        "masks": [{"size": [H, W], "counts": to_counts(p)} for p in pred_r + pred_a],
    }
    return row, pred


def jpeg(rng: np.random.Generator) -> bytes:
    y, x = np.mgrid[0:H, 0:W]
    base = np.stack([x * 255 // W, y * 255 // H, (x + y) * 255 // (H + W)], -1).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(base).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def write_dataset(root: Path, rows: list[dict]) -> str:
    from vrt.data.manifest import Manifest, Shard, write_manifest
    from vrt.data.schema import SCHEMA

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), buf)
    data = buf.getvalue()
    (root / "data").mkdir(parents=True)
    (root / "data" / "shard-00000.parquet").write_bytes(data)
    shard = Shard("shard-00000.parquet", len(rows), len(data), hashlib.sha256(data).hexdigest())
    write_manifest(
        str(root / "data"),
        Manifest(
            "vrt-bench", "bench", {"input": len(rows), "written": len(rows), "quarantined": 0}, {}, [shard]
        ),
    )
    return str(root / "data")


def timed(label: str, fn):
    start = time.perf_counter()
    out = fn()
    print(f"{label:<46} {time.perf_counter() - start:8.2f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=304)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from components.evaluate.ground_truth import load_ground_truth
    from components.evaluate.scoring import score_to_dir
    from evaluation.cards import pick, vrt_cards
    from evaluation.predictions import load_predictions
    from evaluation.report import ReportData, render_report
    from evaluation.vrt_bench import score_vrt

    rng = np.random.default_rng(args.seed)
    image = jpeg(rng)
    made = [make_sample(i, rng) for i in range(args.samples)]
    rows = [dict(r, image=image) for r, _ in made]
    lines = [json.dumps(p) for _, p in made]
    n_masks = sum(len(p["masks"]) for _, p in made)
    print(
        f"{args.samples} samples at {H}x{W}, {POOL} pool objects each, {n_masks / args.samples:.2f} predicted masks/sample"
    )
    with tempfile.TemporaryDirectory(prefix="vrt-eval-bench-") as tmp:
        data = write_dataset(Path(tmp), rows)
        (Path(tmp) / "preds.jsonl").write_text("\n".join(lines) + "\n")
        gts = timed(
            "read dataset + ground truth (Parquet, RLE check)", lambda: load_ground_truth("vrt-bench", data)
        )
        preds = timed("parse + validate predictions JSONL", lambda: load_predictions(lines))
        result = timed("score (IoU matrices, Hungarian, pooling)", lambda: score_vrt(gts, preds))
        timed(
            "report (5 worst + 5 best cards, HTML)",
            lambda: render_report(
                ReportData(
                    "vrt-bench",
                    result.metrics,
                    result.counts,
                    {},
                    *pick(vrt_cards(gts, result, preds), 5),
                    result.by_class,
                )
            ),
        )
        metrics = timed(
            "total: vrt eval score (dataset -> files)",
            lambda: score_to_dir("vrt-bench", data, str(Path(tmp) / "preds.jsonl"), str(Path(tmp) / "out")),
        )
        print("metrics:", {k: round(v, 4) for k, v in metrics["metrics"].items()})
        print(f"report.html: {(Path(tmp) / 'out' / 'report.html').stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
