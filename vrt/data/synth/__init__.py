"""Deterministic, learnable generated data in the real source layouts (`vrt data synth`).

    from vrt.data.synth import synthesize
    synthesize("data/raw", n_train=200, n_bench=40, seed=0, image_size=128)

Same arguments -> identical bytes. Output: DIR/vrt-80k, DIR/vrt-bench, DIR/reasonseg, DIR/vgr.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from vrt.data.synth import layouts


def synthesize(out_dir: str | Path, n_train: int, n_bench: int, seed: int, image_size: int) -> dict[str, int]:
    """Write all four sources under `out_dir` (a local directory); returns records per source."""
    if n_train < 1 or n_bench < 1:
        raise ValueError(f"n_train and n_bench must be >= 1, got {n_train} and {n_bench}")
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32 pixels, got {image_size}")
    out = Path(out_dir)
    return {
        "vrt-80k": layouts.write_vrt80k(out / "vrt-80k", seed, n_train, image_size),
        "vrt-bench": layouts.write_vrt_bench(out / "vrt-bench", seed, n_bench, image_size),
        "reasonseg": layouts.write_reasonseg(out / "reasonseg", seed, n_bench, image_size),
        "vgr": layouts.write_vgr(out / "vgr", seed, max(n_train // 2, 1), image_size),
    }


def synthesize_to(uri: str, n_train: int, n_bench: int, seed: int, image_size: int) -> dict[str, int]:
    """`synthesize` into a local folder or an s3:// prefix (generated locally, then uploaded)."""
    from vrt import storage

    if not storage.is_s3(uri):
        return synthesize(uri, n_train, n_bench, seed, image_size)
    with tempfile.TemporaryDirectory(prefix="vrt-synth-") as tmp:
        counts = synthesize(tmp, n_train, n_bench, seed, image_size)
        storage.upload_dir(tmp, uri)
    return counts
