"""Images for the report: an image with coloured, outlined, labelled masks, as PNG bytes.

png = render.png_bytes(render.overlay(render.base_image(jpeg, h, w), [Layer(rle, (230, 25, 75), "R1")]))
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from evaluation import masks

PALETTE = (
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (0, 128, 128),
    (170, 110, 40),
    (128, 0, 0),
    (0, 0, 128),
)
UNMATCHED = (140, 140, 140)
ALPHA = 0.45


def colour(i: int) -> tuple[int, int, int]:
    return PALETTE[i % len(PALETTE)]


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


@dataclass(frozen=True)
class Layer:
    rle: dict
    rgb: tuple[int, int, int]
    label: str = ""


def display_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(h, w) scaled (up or down) so that the longer side is `max_side`."""
    scale = max_side / max(height, width, 1)
    return max(1, round(height * scale)), max(1, round(width * scale))


def base_image(data: bytes | None, height: int, width: int, max_side: int = 480) -> Image.Image:
    """The sample image (or a grey canvas when absent or undecodable) at display size."""
    h, w = display_size(height, width, max_side)
    if data:
        try:
            image = Image.open(io.BytesIO(data))
            image.draft("RGB", (w, h))  # JPEG: decode at a reduced scale directly
            return image.convert("RGB").resize((w, h), Image.Resampling.BILINEAR)
        except OSError:
            pass
    return Image.new("RGB", (w, h), (200, 200, 200))


def _edge(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels of `mask` within `width` pixels of its border (4-neighbour erosion)."""
    inner = mask.copy()
    for _ in range(width):
        shrunk = inner.copy()
        shrunk[1:] &= inner[:-1]
        shrunk[:-1] &= inner[1:]
        shrunk[:, 1:] &= inner[:, :-1]
        shrunk[:, :-1] &= inner[:, 1:]
        shrunk[0, :] = shrunk[-1, :] = False
        shrunk[:, 0] = shrunk[:, -1] = False
        inner = shrunk
    return mask & ~inner


def overlay(image: Image.Image, layers: list[Layer]) -> Image.Image:
    """`image` with each layer filled (translucent), outlined and labelled at its centre."""
    pixels = np.asarray(image, np.float64).copy()
    h, w = pixels.shape[:2]
    labels = []
    for layer in layers:
        m = masks.decode_at(layer.rle, (h, w))
        rgb = np.array(layer.rgb, np.float64)
        pixels[m] = pixels[m] * (1 - ALPHA) + rgb * ALPHA
        pixels[_edge(m)] = rgb
        if layer.label and m.any():
            ys, xs = np.nonzero(m)
            labels.append((int(xs.mean()), int(ys.mean()), layer.label, layer.rgb))
    out = Image.fromarray(pixels.round().astype(np.uint8))
    draw, font = ImageDraw.Draw(out), ImageFont.load_default(size=14)
    placed: list[tuple[int, int, int, int]] = []
    for x, y, text, rgb in labels:
        box = _free_box(draw.textbbox((x, y), text, font=font, anchor="mm"), placed)
        placed.append(box)
        draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=rgb)
        draw.text(
            ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), text, fill=(255, 255, 255), font=font, anchor="mm"
        )
    return out


def _free_box(box: tuple, placed: list[tuple[int, int, int, int]]) -> tuple[int, int, int, int]:
    """`box` moved down until it overlaps no label placed before (same-place masks stay readable)."""
    left, top, right, bottom = (int(v) for v in box)
    step = bottom - top + 3
    for _ in range(len(placed) + 1):
        if not any(
            left < p[2] + 3 and p[0] < right + 3 and top < p[3] + 2 and p[1] < bottom + 2 for p in placed
        ):
            break
        top, bottom = top + step, bottom + step
    return left, top, right, bottom


def side_by_side(left: Image.Image, right: Image.Image, gap: int = 8) -> Image.Image:
    out = Image.new("RGB", (left.width + gap + right.width, max(left.height, right.height)), (255, 255, 255))
    out.paste(left, (0, 0))
    out.paste(right, (left.width + gap, 0))
    return out


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
