"""The demo's saved overlay: scaled up by whole pixels to at least 512 on its longer side."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pipelines.summary import viewable_png


def _png(width: int, height: int) -> tuple[bytes, np.ndarray]:
    pixels = np.random.default_rng(0).integers(0, 255, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue(), pixels


@pytest.mark.parametrize(
    ("size", "scaled"),
    [((128, 128), (512, 512)), ((130, 100), (520, 400)), ((100, 300), (200, 600)), ((1, 1), (512, 512))],
)
def test_small_overlays_grow_by_a_whole_factor(size, scaled):
    png, pixels = _png(*size)
    out = np.array(Image.open(io.BytesIO(viewable_png(png))))
    assert (out.shape[1], out.shape[0]) == scaled
    factor = scaled[0] // size[0]
    assert np.array_equal(out, pixels.repeat(factor, axis=0).repeat(factor, axis=1))  # blocks of one colour


@pytest.mark.parametrize("size", [(512, 512), (600, 300), (256, 512)])
def test_large_enough_overlays_are_kept_as_they_are(size):
    png, _ = _png(*size)
    assert viewable_png(png) == png
