"""COCO RLE helpers: encode/decode binary masks, and validate untrusted RLE before decoding.

The canonical schema stores a mask as the compressed COCO RLE counts string; its size is
the image size. pycocotools does not bound-check counts, so untrusted RLE is parsed and
checked first (counts non-negative and summing to height * width) by the project's one
validator, `evaluation.masks.run_lengths` / `check_runs` (vectorised).

    counts = encode(mask)                 # mask: (H, W) bool array
    mask = decode(counts, (H, W))
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from evaluation.masks import check_runs, run_lengths


def encode(mask: np.ndarray) -> str:
    """Compressed COCO RLE counts of a 2-D boolean mask."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return rle["counts"].decode("ascii")


def decode(counts: str, size: tuple[int, int]) -> np.ndarray:
    """The (H, W) bool mask of a validated counts string."""
    return mask_utils.decode({"size": list(size), "counts": counts.encode("ascii")}).astype(bool)


def parse_counts(counts: str) -> list[int]:
    """Run lengths of a compressed counts string; ValueError if malformed (evaluation.masks decodes)."""
    return run_lengths(counts).tolist()


def _check_runs(runs: list[int] | np.ndarray, size: tuple[int, int]) -> None:
    try:
        array = np.asarray(runs, dtype=np.int64)
    except OverflowError:
        raise ValueError("run length out of range") from None
    check_runs(array, size)


def normalize(rle: dict | list) -> tuple[str, tuple[int, int]]:
    """Validated (counts string, (H, W)) of a COCO RLE dict (compressed or uncompressed) or a list of
    RLEs over the same image (merged as their union). Raises ValueError/TypeError saying what is wrong."""
    parts = rle if isinstance(rle, list) else [rle]
    if not parts:
        raise ValueError("empty list of RLEs")
    compressed = []
    for part in parts:
        if not isinstance(part, dict) or "size" not in part or "counts" not in part:
            raise ValueError("RLE must be a dict with 'size' and 'counts'")
        size = part["size"]
        if not (
            isinstance(size, list | tuple)
            and len(size) == 2
            and all(isinstance(s, int) and s > 0 for s in size)
        ):
            raise ValueError(f"RLE size must be [height, width] of positive ints, got {size!r}")
        size = (size[0], size[1])
        counts = part["counts"]
        if isinstance(counts, list):
            if not all(isinstance(c, int) for c in counts):
                raise ValueError("uncompressed RLE counts must be ints")
            _check_runs(counts, size)
            compressed.append(mask_utils.frPyObjects({"size": list(size), "counts": counts}, *size))
        elif isinstance(counts, str | bytes):
            text = counts.decode("ascii") if isinstance(counts, bytes) else counts
            _check_runs(run_lengths(text), size)
            compressed.append({"size": list(size), "counts": text.encode("ascii")})
        else:
            raise TypeError(f"RLE counts must be a string or a list, got {type(counts).__name__}")
    sizes = {tuple(c["size"]) for c in compressed}
    if len(sizes) != 1:
        raise ValueError(f"RLEs in one segmentation have different sizes {sorted(sizes)}")
    merged = compressed[0] if len(compressed) == 1 else mask_utils.merge(compressed)
    return merged["counts"].decode("ascii"), tuple(merged["size"])
