"""VGR (LLaVA-style JSON): box-grounded reasoning records; images at the paths they name.

A record is {id, image: "relative/path.jpg", conversations: [{from: human, value},
{from: gpt, value}]}. Regions in the reasoning are written `<sot>[x1, y1, x2, y2]<eot>`; each
distinct box becomes a pool object `b0, b1, ...` (pixels) and its mention `<ref:bK>`. The answer
is the text after "Final answer:". Box convention is detected per record: all coordinates
<= 1 with a fraction -> normalised; any > 1 -> pixels; all in {0, 1} -> ambiguous (quarantined).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from vrt.data.schema import ref
from vrt.data.sources.common import (
    AMBIGUOUS_BOX,
    BAD_BOX,
    MALFORMED,
    MISSING_IMAGE,
    BadRecord,
    RawRecord,
    check_question,
    image_size,
    keyed,
    sample,
)
from vrt.errors import UserError

SOURCE = "vgr"
BAD_IMAGE_PATH = "bad_image_path"  # quarantine reason: an image path that leaves the annotation's folder
BOX = re.compile(r"<sot>\s*\[([^\]]*)\]\s*<eot>")
FINAL = re.compile(r"final answer\s*:\s*(.+?)\s*$", re.IGNORECASE | re.DOTALL)


def find_inputs(root: Path) -> list[Path]:
    paths = sorted([*root.rglob("*.json"), *root.rglob("*.jsonl")])
    if not paths:
        raise UserError(f"no *.json / *.jsonl annotation file under {root}: point --from at the VGR folder")
    return paths


def _load(path: Path) -> list:
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        records = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is not valid JSON ({e.msg}, line {e.lineno}): download it again") from e
    if not isinstance(records, list):
        raise UserError(f"{path} must hold a JSON list of LLaVA-style records")
    return records


def count(paths: list[Path]) -> None:
    """Unknown until the JSON is parsed (the progress bar shows records done only)."""


def iter_raw(paths: Iterable[Path], root: Path, folder: Callable[[Path, Any], Any] | None = None
             ) -> Iterator[RawRecord]:
    """Records of the annotation files; their images are read from the file's folder, or from
    `folder(path, record)` (a remote folder, vrt.data.stream.RemoteFolder) when given."""
    for path in paths:
        name = path.relative_to(root).as_posix()
        for i, rec in enumerate(_load(path)):
            rid = rec.get("id") if isinstance(rec, dict) else None
            where = folder(path, rec) if folder is not None else str(path.parent)
            yield RawRecord(str(rid) if rid is not None else f"{name}#{i}", {"record": rec, "root": where})


def _coords(text: str) -> list[float]:
    try:
        coords = [float(c) for c in text.split(",")]
    except ValueError as e:
        raise BadRecord(BAD_BOX, f"box [{text}] is not four numbers") from e
    if len(coords) != 4:
        raise BadRecord(BAD_BOX, f"box [{text}] has {len(coords)} coordinates, not 4")
    return coords


def box_convention(boxes: list[list[float]]) -> str:
    """`normalised` or `pixels` for one record's boxes; BadRecord when it cannot be told."""
    values = [v for b in boxes for v in b]
    if any(v > 1.0 for v in values):
        return "pixels"
    if any(v != int(v) for v in values):
        return "normalised"
    raise BadRecord(
        AMBIGUOUS_BOX, f"all box coordinates are 0 or 1 ({boxes[:2]}): normalised or pixels cannot be told"
    )


def _pixel_box(box: list[float], convention: str, width: int, height: int) -> list[float]:
    x1, y1, x2, y2 = box
    if convention == "normalised":
        x1, y1, x2, y2 = x1 * width, y1 * height, x2 * width, y2 * height
    if min(x1, y1) < 0 or x2 > width or y2 > height:
        raise BadRecord(BAD_BOX, f"box {box} ({convention}) lies outside the {width}x{height} image")
    if x2 <= x1 or y2 <= y1:
        raise BadRecord(BAD_BOX, f"box {box} is degenerate (x2 <= x1 or y2 <= y1)")
    return [x1, y1, x2, y2]


def _turns(rec: dict) -> tuple[str, str]:
    convs = rec.get("conversations")
    if not isinstance(convs, list):
        raise BadRecord(MALFORMED, "record has no conversations list")
    human = next((c.get("value") for c in convs if isinstance(c, dict) and c.get("from") == "human"), None)
    gpt = next((c.get("value") for c in convs if isinstance(c, dict) and c.get("from") == "gpt"), None)
    if not isinstance(gpt, str):
        raise BadRecord(MALFORMED, "record has no gpt turn")
    return human if isinstance(human, str) else "", gpt


def _image(rec: dict, root: Any) -> tuple[bytes, str]:
    """The image bytes a record names, under the local folder `root` or from a remote folder."""
    rel = rec.get("image")
    if not isinstance(rel, str) or not rel:
        raise BadRecord(MALFORMED, "record names no image")
    parts = PurePosixPath(rel.replace("\\", "/"))
    if parts.is_absolute() or ".." in parts.parts or "\x00" in rel or re.match(r"^[A-Za-z]:", rel):
        raise BadRecord(
            BAD_IMAGE_PATH, f"image path {rel!r} is absolute or climbs out with ..; paths are relative"
        )
    if not isinstance(root, str):  # remote: the worker fetches the one file (through the raw cache)
        if (data := root.read(rel)) is None:
            raise BadRecord(MISSING_IMAGE, f"image {rel} not found under {root.where}: upload the image folders")
        return data, rel
    path = Path(root, rel)
    if not path.resolve().is_relative_to(Path(root).resolve()):
        raise BadRecord(BAD_IMAGE_PATH, f"image path {rel!r} leads outside {root} (a symlink)")
    if not path.is_file():
        raise BadRecord(
            MISSING_IMAGE, f"image {rel} not found under {root}: place the LLaVA image folders there"
        )
    return path.read_bytes(), rel


def convert(raw: RawRecord) -> dict:
    rec, root = raw.payload["record"], raw.payload["root"]
    with keyed(raw.key):
        if not isinstance(rec, dict):
            raise BadRecord(MALFORMED, "record is not a JSON object")
        human, gpt = _turns(rec)
        question = check_question(human.replace("<image>", ""))
        image, rel = _image(rec, root)
        width, height = image_size(image)
        raw_boxes = [_coords(m.group(1)) for m in BOX.finditer(gpt)]
        convention = box_convention(raw_boxes) if raw_boxes else "none"
        ids: dict[tuple, str] = {}
        objects = []
        for box in raw_boxes:
            if tuple(box) not in ids:
                ids[tuple(box)] = f"b{len(ids)}"
                pixel = _pixel_box(box, convention, width, height)
                objects.append({"id": ids[tuple(box)], "caption": None, "rle": None, "box": pixel})
        reasoning = BOX.sub(lambda m: ref(ids[tuple(_coords(m.group(1)))]), gpt)
        final = FINAL.search(reasoning)
        return sample(
            id=raw.key,
            source=SOURCE,
            image=image,
            width=width,
            height=height,
            question=question,
            objects=objects,
            reasoning_ids=list(ids.values()),
            answer_ids=[],
            reasoning=reasoning.strip(),
            answer=final.group(1) if final else None,
            extra={"image": rel, "box_convention": convention},
        )


def tally(row: dict) -> list[str]:
    """Counters for the manifest: the box convention detected per record."""
    return [f"boxes_{json.loads(row['extra'])['box_convention']}"]
