"""Predictor responses: a model Trace -> `{text, objects, timings, overlay?}` (JSON-ready); no kserve import.

Each object is one `[SEG]` of the text: its role (reasoning | answer), its mask (COCO RLE),
bbox [x, y, w, h], the model's score, and the character span of its `[SEG]` in `text`.
Masks of `[SEG]`s after the answer ('dropped') are not returned.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image

SEG = "[SEG]"
COLOURS = {"reasoning": (255, 170, 0), "answer": (0, 160, 255)}


def _rle(mask: dict) -> dict:
    counts = mask["counts"]
    return {
        "size": list(mask["size"]),
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def trace_objects(trace: Any) -> list[dict]:
    """The reasoning and answer objects of a Trace (text, seg_positions, roles, masks, scores)."""
    from pycocotools import mask as mask_utils

    objects = []
    for pos, role, mask, score in zip(
        trace.seg_positions, trace.roles, trace.masks, trace.scores, strict=True
    ):
        if role not in COLOURS:
            continue
        rle = _rle(mask)
        bbox = mask_utils.toBbox({"size": rle["size"], "counts": rle["counts"].encode("ascii")})
        objects.append(
            {
                "role": role,
                "mask": rle,
                "bbox": [round(float(v), 2) for v in bbox],
                "score": round(float(score), 6),
                "span": [pos, pos + len(SEG)],
            }
        )
    return objects


def overlay_png(image: Image.Image, objects: list[dict], alpha: float = 0.5) -> str:
    """The image with each object's mask tinted by its role, as base64 PNG (blends only masked pixels)."""
    from pycocotools import mask as mask_utils

    canvas = np.array(image.convert("RGB"), dtype=np.uint8)
    for obj in objects:
        rle = {"size": obj["mask"]["size"], "counts": obj["mask"]["counts"].encode("ascii")}
        region = mask_utils.decode(rle).astype(bool)
        if region.shape != canvas.shape[:2]:
            raise ValueError(f"mask of size {region.shape} does not match the image's {canvas.shape[:2]}")
        tint = np.array(COLOURS[obj["role"]], dtype=np.float32)
        canvas[region] = ((1 - alpha) * canvas[region] + alpha * tint).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def build_result(trace: Any, image: Image.Image, overlay: bool, timings: dict[str, float]) -> dict:
    """The response for one request item."""
    objects = trace_objects(trace)
    result: dict[str, Any] = {"text": trace.text, "objects": objects, "timings": dict(timings)}
    if overlay:
        result["overlay_png_b64"] = overlay_png(image, objects)
    return result
