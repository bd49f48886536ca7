"""Tiny generator of canonical sample rows (coloured shapes on a plain background, exact RLE masks)."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image, ImageDraw
from pycocotools import mask as cocomask

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 60), "blue": (40, 60, 220), "yellow": (230, 210, 40)}
SHAPES = ("square", "circle")


def _rle(mask: np.ndarray) -> str:
    return cocomask.encode(np.asfortranarray(mask.astype(np.uint8)))["counts"].decode("ascii")


def _draw(draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], colour) -> None:
    if shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        draw.ellipse(box, fill=colour)


def make_sample(index: int, size: int = 96, n_objects: int = 2, seed: int = 0) -> dict:
    """One canonical row: `n_objects` shapes; the answer is the first, the reasoning mentions all."""
    rng = np.random.default_rng(seed * 1000 + index)
    image = Image.new("RGB", (size, size), (128, 128, 128))
    objects, names = [], list(COLOURS)
    for k in range(n_objects):
        colour = names[(index + k) % len(names)]
        shape = SHAPES[(index + k) % 2]
        side = int(rng.integers(size // 4, size // 2))
        x, y = (int(v) for v in rng.integers(0, size - side, 2))
        layer = Image.new("L", (size, size), 0)
        _draw(ImageDraw.Draw(layer), shape, (x, y, x + side - 1, y + side - 1), 255)
        _draw(ImageDraw.Draw(image), shape, (x, y, x + side - 1, y + side - 1), COLOURS[colour])
        mask = np.asarray(layer) > 0
        for prev in objects:  # later shapes occlude earlier ones
            prev["_mask"] &= ~mask
        objects.append(
            {"id": f"o{k}", "caption": f"{colour} {shape}", "_mask": mask, "box": [x, y, x + side, y + side]}
        )
    for obj in objects:
        obj["rle"] = _rle(obj.pop("_mask"))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    first = objects[0]
    reasoning = " and ".join(f"the {o['caption']} <ref:{o['id']}>" for o in objects)
    return {
        "id": f"synth-{index}",
        "source": "vrt-80k",
        "image": buf.getvalue(),
        "width": size,
        "height": size,
        "question": f"Which object is the {first['caption']}?",
        "objects": objects,
        "reasoning_ids": [o["id"] for o in objects],
        "answer_ids": [first["id"]],
        "reasoning": f"I see {reasoning}.",
        "answer": f"The {first['caption']} <ref:{first['id']}>.",
        "class_ids": [],
        "extra": json.dumps({}),
    }


def make_samples(n: int, size: int = 96, n_objects: int = 2, seed: int = 0) -> list[dict]:
    return [make_sample(i, size, n_objects, seed) for i in range(n)]
