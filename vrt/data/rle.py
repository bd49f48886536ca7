"""COCO RLE helpers: encode/decode binary masks, and validate untrusted RLE before decoding.

The canonical schema stores a mask as the compressed COCO RLE counts string; its size is
the image size. pycocotools does not bound-check counts, so untrusted RLE is parsed and
checked here first (counts non-negative and summing to height * width).

    counts = encode(mask)                 # mask: (H, W) bool array
    mask = decode(counts, (H, W))
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils


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
    """Run lengths of a compressed counts string (COCO's LEB128-like encoding); ValueError if malformed.

    Each number is 5-bit groups (low first, bit 0x20 = more follows, bit 0x10 of the last group =
    negative); from the 4th number on, each is a delta to the number two places before it."""
    if not counts:
        return []
    b = np.frombuffer(counts.encode("latin-1"), np.uint8).astype(np.int64) - 48
    bad = np.flatnonzero((b < 0) | (b >= 64))
    if bad.size:
        raise ValueError(f"invalid character {counts[bad[0]]!r} in counts string")
    more = (b & 0x20) != 0
    if more[-1]:
        raise ValueError("counts string ends inside a number")
    ends = np.flatnonzero(~more)
    starts = np.concatenate(([0], ends[:-1] + 1))
    k = np.arange(b.size) - np.repeat(starts, ends - starts + 1)
    x = np.add.reduceat((b & 0x1F) << (5 * k), starts)
    negative = (b[ends] & 0x10) != 0
    x[negative] |= np.left_shift(-1, 5 * (k[ends][negative] + 1))
    runs = x.copy()
    runs[1::2] = np.cumsum(x[1::2])
    runs[2::2] = np.cumsum(x[2::2])
    return runs.tolist()


def _check_runs(runs: list[int], size: tuple[int, int]) -> None:
    if any(r < 0 for r in runs):
        raise ValueError("negative run length")
    if sum(runs) != size[0] * size[1]:
        raise ValueError(f"run lengths sum to {sum(runs)}, not {size[0]}x{size[1]}={size[0] * size[1]}")


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
            _check_runs(parse_counts(text), size)
            compressed.append({"size": list(size), "counts": text.encode("ascii")})
        else:
            raise TypeError(f"RLE counts must be a string or a list, got {type(counts).__name__}")
    sizes = {tuple(c["size"]) for c in compressed}
    if len(sizes) != 1:
        raise ValueError(f"RLEs in one segmentation have different sizes {sorted(sizes)}")
    merged = compressed[0] if len(compressed) == 1 else mask_utils.merge(compressed)
    return merged["counts"].decode("ascii"), tuple(merged["size"])
