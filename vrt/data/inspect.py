"""`vrt data inspect`: summarise a published dataset and render samples with their masks.

Reads no image bytes except those of the samples it renders.

summary = describe("data/vrt-bench")          # manifest + first rows, as printable text
paths = render_samples("data/vrt-bench", 4, "out/pictures")
"""

from __future__ import annotations

import io
import itertools
import json
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vrt.data import rle
from vrt.data.manifest import Manifest
from vrt.data.reader import NO_IMAGE, iter_samples, read_images, read_manifest

MIN_SIDE = 384  # small images are enlarged (nearest neighbour) so labels stay readable
PALETTE = [
    (230, 25, 75),
    (60, 180, 75),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
]


def manifest_lines(uri: str, m: Manifest) -> list[str]:
    c = m.counts
    lines = [
        f"dataset   {uri}",
        f"source    {m.source}  revision {m.revision}  schema v{m.schema_version}",
        f"counts    input {c['input']}  written {c['written']}  quarantined {c['quarantined']}",
    ]
    for reason, n in sorted(m.quarantine_reasons.items()):
        lines.append(f"  quarantined {reason}: {n}")
    for name, n in sorted(m.extra.get("tally", {}).items()):
        lines.append(f"  tally {name}: {n}")
    lines.append(f"shards    {len(m.shards)} ({sum(s.bytes for s in m.shards)} bytes)")
    lines += [f"  {s.path}  rows {s.rows}  bytes {s.bytes}  sha256 {s.sha256[:12]}" for s in m.shards]
    return lines


def sample_lines(row: dict) -> list[str]:
    def short(text: str | None, n: int = 160) -> str:
        return "-" if text is None else (text if len(text) <= n else text[: n - 3] + "...")

    return [
        f"[{row['id']}] {row['width']}x{row['height']}  {len(row['objects'])} objects  classes {row['class_ids']}",
        f"  question : {short(row['question'])}",
        f"  reasoning: {short(row['reasoning'])}  ids {row['reasoning_ids']}",
        f"  answer   : {short(row['answer'])}  ids {row['answer_ids']}",
    ]


def describe(uri: str, n_samples: int = 3) -> list[str]:
    """Manifest summary and the first `n_samples` rows, as lines of text."""
    lines = manifest_lines(uri, read_manifest(uri))
    for i, row in enumerate(iter_samples(uri, columns=NO_IMAGE)):
        if i >= n_samples:
            break
        lines += sample_lines(row)
    return lines


def outline(mask: np.ndarray, width: int) -> np.ndarray:
    """The ring of pixels within `width` pixels outside `mask` (the object's own pixels stay untouched)."""
    grown = mask.copy()
    for _ in range(width):
        step = grown.copy()
        step[1:] |= grown[:-1]
        step[:-1] |= grown[1:]
        step[:, 1:] |= grown[:, :-1]
        step[:, :-1] |= grown[:, 1:]
        grown = step
    return grown & ~mask


def render(row: dict) -> Image.Image:
    """The sample's image enlarged, every object mask outlined (answer objects thicker) so the objects keep
    their true colours, boxes drawn, and object ids written at the objects."""
    img = Image.open(io.BytesIO(row["image"])).convert("RGB")
    scale = max(1, -(-MIN_SIDE // max(row["width"], row["height"])))
    base = np.asarray(img.resize((row["width"] * scale, row["height"] * scale), Image.NEAREST)).copy()
    labels = []
    for k, obj in enumerate(row["objects"]):
        colour = np.array(PALETTE[k % len(PALETTE)], dtype=np.uint8)
        if obj["rle"]:
            mask = rle.decode(obj["rle"], (row["height"], row["width"]))
            big = mask.repeat(scale, 0).repeat(scale, 1)
            width = max(2, scale // 2) + (2 if obj["id"] in row["answer_ids"] else 0)
            base[outline(big, width)] = colour
            if mask.any():
                ys, xs = np.nonzero(mask)
                labels.append((obj["id"], float(xs.mean()), float(ys.mean()), k, None))
        if obj["box"]:
            labels.append((obj["id"], obj["box"][0] + 2, obj["box"][1] + 1, k, obj["box"]))
    out = Image.fromarray(base)
    draw = ImageDraw.Draw(out)
    for oid, x, y, k, box in labels:
        if box:
            draw.rectangle([v * scale for v in box], outline=PALETTE[k % len(PALETTE)], width=1)
        draw.text(
            (x * scale, y * scale),
            oid,
            fill=(0, 0, 0),
            stroke_width=2,
            stroke_fill=(255, 255, 255),
            anchor=None if box else "mm",
        )
    return out


def render_samples(uri: str, n: int, out_dir: str | Path) -> list[Path]:
    """Write PNGs of the first `n` samples (masks overlaid, ids labelled) plus a text caption file."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    rows = list(itertools.islice(iter_samples(uri, columns=NO_IMAGE), n))
    images = read_images(uri, [r["id"] for r in rows])  # only the samples rendered
    for i, row in enumerate(rows):
        row = row | {"image": images[row["id"]]}
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", row["id"])
        path = out / f"{i:03d}_{safe}.png"
        render(row).save(path)
        path.with_suffix(".txt").write_text(
            "\n".join(sample_lines(row)) + "\n" + json.dumps({"extra": json.loads(row["extra"])}) + "\n"
        )
        paths.append(path)
    return paths
