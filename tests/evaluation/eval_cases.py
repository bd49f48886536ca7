"""Tiny hand-made masks on a 10x10 grid for exact, hand-computed expectations."""

from __future__ import annotations

import json

import numpy as np

from evaluation import masks

H = W = 10


def box(r0: int, r1: int, c0: int, c1: int, h: int = H, w: int = W) -> dict:
    """RLE of rows r0..r1-1 x cols c0..c1-1."""
    m = np.zeros((h, w), bool)
    m[r0:r1, c0:c1] = True
    return masks.encode(m)


A = box(0, 5, 0, 5)  # 25 px, top-left
B = box(5, 10, 5, 10)  # 25 px, bottom-right
C = box(0, 5, 5, 10)  # 25 px, top-right
D = box(5, 10, 0, 5)  # 25 px, bottom-left
G20 = box(0, 4, 0, 5)  # 20 px
HALF_G20 = box(0, 2, 0, 5)  # 10 px inside G20: IoU exactly 0.5
A_SHIFT = box(0, 5, 1, 5)  # 20 px inside A: IoU 0.8
EMPTY = masks.empty(H, W)


def line(sample_id: str, text: str, rles: list[dict]) -> str:
    return json.dumps({"id": sample_id, "text": text, "masks": rles})
