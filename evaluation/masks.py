"""Binary masks as COCO RLE (`{"size": [h, w], "counts": str}`) with pycocotools.

    from evaluation import masks
    rle = masks.encode(np.ones((4, 5), bool))
    masks.iou_matrix([rle], [rle])          # array([[1.]])

`check` validates an RLE completely (characters, run lengths, total = h*w) before any
pycocotools call: pycocotools itself reads malformed counts out of bounds. `run_lengths` and
`check_runs` are the project's one RLE validator (vectorised; vrt.data.rle uses them too).
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as cocomask

RLE = dict  # {"size": [h, w], "counts": str}
_MAX_CHUNKS = 7  # 35-bit run lengths: far beyond any image


def run_lengths(counts: str) -> np.ndarray:
    """Decode COCO's compressed counts string into run lengths; ValueError if malformed.

    Each number is 5-bit groups (low first, bit 0x20 = more follows, bit 0x10 of the last group =
    negative); from the 4th number on, each is a delta to the number two places before it."""
    try:
        raw = np.frombuffer(counts.encode("ascii", errors="strict"), np.uint8).astype(np.int64) - 48
    except UnicodeEncodeError:
        raise ValueError("counts holds non-ASCII characters: not a COCO RLE string") from None
    if raw.size == 0:
        return np.zeros(0, np.int64)
    if raw.min() < 0 or raw.max() > 63:
        raise ValueError("counts holds characters outside COCO's RLE alphabet ('0'..'o')")
    more = (raw & 0x20) != 0
    if more[-1]:
        raise ValueError("counts ends in the middle of a run length (truncated string)")
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    chunk = np.arange(raw.size) - np.repeat(starts, ends - starts + 1)
    if chunk.max() >= _MAX_CHUNKS:
        raise ValueError("counts holds a run length longer than any image")
    vals = np.add.reduceat((raw & 0x1F) << (5 * chunk), starts)
    negative = (raw[ends] & 0x10) != 0
    vals[negative] -= np.left_shift(1, 5 * (chunk[ends][negative] + 1))
    runs = vals.copy()
    runs[1::2] = np.cumsum(vals[1::2])
    runs[2::2] = np.cumsum(vals[2::2])
    return runs


def check(rle: object) -> RLE:
    """A validated RLE dict {"size": [h, w], "counts": str}; ValueError says what is wrong."""
    if not isinstance(rle, dict) or not {"size", "counts"} <= set(rle):
        raise ValueError('an RLE must be an object {"size": [h, w], "counts": "<COCO compressed string>"}')
    size, counts = rle["size"], rle["counts"]
    if (
        not isinstance(size, (list, tuple))
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)
    ):
        raise ValueError(f"RLE size must be [height, width] as non-negative integers, got {size!r}")
    if isinstance(counts, bytes):
        counts = counts.decode("ascii", errors="replace")
    if not isinstance(counts, str):
        raise ValueError("RLE counts must be a COCO compressed string (uncompressed lists are not accepted)")  # noqa: TRY004 (ValueError is this library's bad-input contract)
    check_runs(run_lengths(counts), (size[0], size[1]))
    return {"size": [size[0], size[1]], "counts": counts}


def check_runs(runs: np.ndarray, size: tuple[int, int]) -> None:
    """ValueError unless the run lengths are non-negative and cover exactly h*w pixels."""
    if runs.size and runs.min() < 0:
        raise ValueError("counts decodes to a negative run length: corrupt RLE string")
    h, w = size
    if int(runs.sum()) != h * w:
        raise ValueError(f"counts covers {int(runs.sum())} pixels but size {h}x{w} has {h * w}")


def encode(mask: np.ndarray) -> RLE:
    """RLE of a 2-D boolean (or 0/1) mask."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"encode takes a 2-D mask, got shape {mask.shape}")
    rle = cocomask.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def decode(rle: RLE) -> np.ndarray:
    """The boolean (h, w) mask of an RLE."""
    return cocomask.decode(rle).astype(bool)


def empty(height: int, width: int) -> RLE:
    """The RLE of an all-false mask."""
    return encode(np.zeros((height, width), bool))


def area(rle: RLE) -> int:
    """Number of foreground pixels."""
    return int(cocomask.area(rle))


def size_of(rle: RLE) -> tuple[int, int]:
    return int(rle["size"][0]), int(rle["size"][1])


def _same_size(rles: list[RLE]) -> None:
    sizes = {size_of(r) for r in rles}
    if len(sizes) > 1:
        raise ValueError(f"masks of different sizes {sorted(sizes)} cannot be compared: resize them first")


def iou_matrix(preds: list[RLE], gts: list[RLE]) -> np.ndarray:
    """IoU of every (pred, gt) pair as a (len(preds), len(gts)) float array; one pycocotools call.

    A pair whose union is empty (both masks empty) has IoU 0.
    """
    if not preds or not gts:
        return np.zeros((len(preds), len(gts)), np.float64)
    _same_size(list(preds) + list(gts))
    out = cocomask.iou(list(preds), list(gts), [0] * len(gts))
    return np.asarray(out, np.float64).reshape(len(preds), len(gts))


def union(rles: list[RLE], size: tuple[int, int] | None = None) -> RLE:
    """Pixel-wise OR of masks; with no masks, the empty mask of `size` (h, w)."""
    if not rles:
        if size is None:
            raise ValueError("the union of no masks needs a size (h, w)")
        return empty(*size)
    _same_size(list(rles))
    return cocomask.merge(list(rles), intersect=False) if len(rles) > 1 else rles[0]


def intersect(a: RLE, b: RLE) -> RLE:
    """Pixel-wise AND of two masks."""
    _same_size([a, b])
    return cocomask.merge([a, b], intersect=True)


def decode_at(rle: RLE, size: tuple[int, int]) -> np.ndarray:
    """The boolean mask resized (nearest neighbour: pixel centres) to size (h, w)."""
    h, w = int(size[0]), int(size[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"resize target must be positive (h, w), got {size!r}")
    full = cocomask.decode(rle)
    h0, w0 = full.shape
    if (h0, w0) == (h, w):
        return full.astype(bool)
    rows = np.minimum(((np.arange(h) + 0.5) * h0 / h).astype(np.int64), h0 - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * w0 / w).astype(np.int64), w0 - 1)
    return full[np.ix_(rows, cols)].astype(bool)


def resize(rle: RLE, size: tuple[int, int]) -> RLE:
    """Nearest-neighbour resize of a mask to size (h, w)."""
    if size_of(rle) == (int(size[0]), int(size[1])):
        return rle
    return encode(decode_at(rle, size))
