"""Build a small canonical dataset (Parquet shard + manifest) directly, for scoring tests."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from evaluation import masks
from vrt.data.manifest import Manifest, Shard, write_manifest
from vrt.data.schema import SCHEMA

H, W = 60, 90


def rect(r0: int, r1: int, c0: int, c1: int, h: int = H, w: int = W) -> dict:
    m = np.zeros((h, w), bool)
    m[r0:r1, c0:c1] = True
    return masks.encode(m)


def image_png(h: int = H, w: int = W) -> bytes:
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)), np.full_like(x, 120)], -1)
    buf = io.BytesIO()
    Image.fromarray(rgb.astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def row(
    sample_id: str,
    source: str,
    pool: dict[str, dict],
    reasoning: list[str],
    answer: list[str],
    classes: list[str] = (),
    h: int = H,
    w: int = W,
) -> dict:
    return {
        "id": sample_id,
        "source": source,
        "image": image_png(h, w),
        "width": w,
        "height": h,
        "question": f"question of {sample_id}?",
        "objects": [
            {"id": k, "caption": f"object {k}", "rle": v["counts"], "box": None} for k, v in pool.items()
        ],
        "reasoning_ids": list(reasoning),
        "answer_ids": list(answer),
        "reasoning": None,
        "answer": None,
        "class_ids": list(classes),
        "extra": "{}",
    }


def write_dataset(directory: Path, source: str, rows: list[dict]) -> str:
    """Write rows as one shard + manifest.json; returns the dataset URI (a local path)."""
    directory.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), buf)
    data = buf.getvalue()
    (directory / "shard-00000.parquet").write_bytes(data)
    shard = Shard("shard-00000.parquet", len(rows), len(data), hashlib.sha256(data).hexdigest())
    counts = {"input": len(rows), "written": len(rows), "quarantined": 0}
    write_manifest(str(directory), Manifest(source, "test", counts, {}, [shard]))
    return str(directory)


VRT_POOL = {
    "o1": rect(0, 30, 0, 45),
    "o2": rect(30, 60, 45, 90),
    "o3": rect(0, 30, 45, 90),
    "o4": rect(30, 60, 0, 45),
}


def vrt_rows() -> list[dict]:
    """Three VRT-Bench samples; see tests for the predictions scored against them."""
    return [
        row("v1", "vrt-bench", VRT_POOL, ["o1", "o2"], ["o2"], ["#visf", "#loc"]),
        row("v2", "vrt-bench", VRT_POOL, ["o3", "o4", "o1"], ["o4"], ["#comp"]),
        row("v3", "vrt-bench", VRT_POOL, ["o1"], ["o3"], ["#func"]),
    ]


def jsonl(lines: list[dict]) -> str:
    return "".join(json.dumps(x) + "\n" for x in lines)
