"""Generated scenes: a few coloured shapes (circle, square, triangle) in distinct grid cells.

Shapes never overlap, so every object's mask is exact and the image is composed from the
masks themselves (pixel (y, x) has an object's colour exactly where its mask is set).

    scene = make_scene(np.random.default_rng(0), size=128)
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "green": (40, 170, 60), "blue": (40, 80, 220), "yellow": (230, 200, 30)}
SHAPES = ("circle", "square", "triangle")
BACKGROUND = (245, 245, 240)
GRID = 3


@dataclass(frozen=True)
class Shape:
    colour: str
    shape: str
    mask: np.ndarray  # (H, W) bool
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels (exclusive end)

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def centre(self) -> tuple[float, float]:
        ys, xs = np.nonzero(self.mask)
        return float(xs.mean()), float(ys.mean())


@dataclass(frozen=True)
class Scene:
    size: int
    shapes: list[Shape]

    def image(self) -> np.ndarray:
        """(H, W, 3) uint8 picture composed from the masks."""
        img = np.empty((self.size, self.size, 3), np.uint8)
        img[:] = BACKGROUND
        for s in self.shapes:
            img[s.mask] = COLOURS[s.colour]
        return img

    def encode(self, fmt: str) -> bytes:
        """The picture as PNG or JPEG bytes (deterministic for a given Pillow)."""
        buf = io.BytesIO()
        Image.fromarray(self.image()).save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
        return buf.getvalue()


def _draw(shape: str, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    x1, y1, x2, y2 = box
    if shape == "circle":
        draw.ellipse([x1, y1, x2 - 1, y2 - 1], fill=1)
    elif shape == "square":
        draw.rectangle([x1, y1, x2 - 1, y2 - 1], fill=1)
    else:
        draw.polygon([((x1 + x2 - 1) / 2, y1), (x1, y2 - 1), (x2 - 1, y2 - 1)], fill=1)
    return np.array(canvas, dtype=bool)


def make_scene(rng: np.random.Generator, size: int, n_min: int = 3, n_max: int = 6) -> Scene:
    """A scene of n_min..n_max shapes, one per grid cell, with random colour, shape and jitter."""
    if size < 32:
        raise ValueError(f"image size must be at least 32 pixels, got {size}")
    cell = size // GRID
    n = int(rng.integers(n_min, n_max + 1))
    cells = rng.choice(GRID * GRID, size=n, replace=False)
    shapes = []
    for c in sorted(int(c) for c in cells):
        side = int(rng.integers(int(cell * 0.45), int(cell * 0.75) + 1))
        x1 = (c % GRID) * cell + int(rng.integers(0, cell - side + 1))
        y1 = (c // GRID) * cell + int(rng.integers(0, cell - side + 1))
        box = (x1, y1, x1 + side, y1 + side)
        colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        mask = _draw(shape, box, size)
        ys, xs = np.nonzero(mask)
        tight = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        shapes.append(Shape(colour, shape, mask, tight))
    return Scene(size, shapes)
