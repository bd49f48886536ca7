"""ReasonSeg (HF `Ricky06662/ReasonSeg_test` Parquet): one target mask per query.

Fields: image {bytes, path}, text, mask (bool 2-D), image_id, ann_id, img_height, img_width.
Sample id = `{image_id}:{ann_id}`; the pool holds one object, `target`, which is the answer.
The HF conversion merged LISA's "ignore" regions into the foreground: the mask is kept as
given (that convention is what gets scored). Empty masks are kept and counted in `extra`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vrt.data import rle as rle_utils
from vrt.data.sources.common import (
    MALFORMED,
    MASK_SIZE,
    BadRecord,
    RawRecord,
    check_question,
    image_size,
    keyed,
    sample,
)
from vrt.errors import UserError

SOURCE = "reasonseg"
TARGET = "target"
COLUMNS = ("image", "text", "mask", "image_id", "ann_id", "img_height", "img_width")


def find_inputs(root: Path) -> list[Path]:
    paths = sorted(root.rglob("*.parquet"))
    if not paths:
        raise UserError(f"no *.parquet file under {root}: point --from at the ReasonSeg_test snapshot")
    for path in paths:
        check_input(path)
    return paths


def check_input(path: Path) -> None:
    """UserError unless `path` is a readable Parquet file with the ReasonSeg columns."""
    try:
        names = set(pq.read_schema(path).names)
    except (OSError, pa.ArrowException) as e:
        raise UserError(f"{path} is not a readable Parquet file ({e}): download the dataset again") from e
    missing = sorted(set(COLUMNS) - names)
    if missing:
        raise UserError(f"{path} lacks columns {missing}: is this ReasonSeg? check --source and --from")


def count(paths: list[Path]) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)


def iter_raw(paths: list[Path], root: Path) -> Iterator[RawRecord]:
    for path in paths:
        for batch in pq.ParquetFile(path).iter_batches(batch_size=64, columns=list(COLUMNS)):
            for row in batch.to_pylist():
                yield RawRecord(f"{row['image_id']}:{row['ann_id']}", row)


def _mask(row: dict) -> np.ndarray:
    try:
        mask = np.array(row["mask"], dtype=bool)
    except (KeyError, TypeError, ValueError) as e:
        raise BadRecord(MALFORMED, f"mask is missing or not a rectangular 2-D array ({e})") from e
    if mask.ndim != 2:
        raise BadRecord(MALFORMED, f"mask must be 2-D, got shape {mask.shape}")
    return mask


def convert(raw: RawRecord) -> dict:
    row = raw.payload
    with keyed(raw.key):
        image = (row.get("image") or {}).get("bytes") or b""
        width, height = image_size(image)
        question = check_question(row.get("text"))
        mask = _mask(row)
        if mask.shape != (height, width):
            raise BadRecord(MASK_SIZE, f"mask is {mask.shape[1]}x{mask.shape[0]}, image is {width}x{height}")
        if (row.get("img_height"), row.get("img_width")) != (height, width):
            raise BadRecord(
                MASK_SIZE,
                f"img_width x img_height {row.get('img_width')}x{row.get('img_height')} != image {width}x{height}",
            )
        obj = {"id": TARGET, "caption": None, "rle": rle_utils.encode(mask), "box": None}
        extra = {"image_path": (row.get("image") or {}).get("path"), "empty_mask": not mask.any()}
        return sample(
            id=raw.key,
            source=SOURCE,
            image=image,
            width=width,
            height=height,
            question=question,
            objects=[obj],
            reasoning_ids=[],
            answer_ids=[TARGET],
            extra=extra,
        )


def tally(row: dict) -> list[str]:
    """Counters for the manifest: samples whose target mask is empty."""
    return ["empty_mask"] if json.loads(row["extra"])["empty_mask"] else []
