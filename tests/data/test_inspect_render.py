"""`vrt data inspect --render`: objects keep their true colours, masks are outlined around them."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from vrt.data import rle
from vrt.data.inspect import PALETTE, outline, render


def _row() -> dict:
    img = np.full((32, 32, 3), 245, np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[8:16, 8:16] = True
    img[mask] = (230, 200, 30)  # a yellow square
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    obj = {"id": "a", "caption": "yellow square", "rle": rle.encode(mask), "box": None}
    return {"image": buf.getvalue(), "width": 32, "height": 32, "objects": [obj], "answer_ids": ["a"]}


def test_outline_is_the_ring_outside_the_mask():
    mask = np.zeros((7, 7), bool)
    mask[3, 3] = True
    ring = outline(mask, 1)
    assert ring.sum() == 4 and not ring[3, 3] and ring[2, 3] and ring[3, 2]


def test_render_keeps_object_colours_and_outlines_them():
    out = np.asarray(render(_row()))
    scale = 384 // 32
    assert out.shape == (384, 384, 3)
    assert tuple(out[12 * scale, 12 * scale]) == (230, 200, 30)  # inside the square: its own yellow
    assert tuple(out[8 * scale + 2, 8 * scale + 2]) == (230, 200, 30)  # inside edge too
    assert tuple(out[8 * scale - 1, 12 * scale]) == PALETTE[0]  # just above the square: the outline
    assert tuple(out[2, 2]) == (245, 245, 245)  # far background untouched
