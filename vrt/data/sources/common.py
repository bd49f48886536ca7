"""Shared pieces of the converters: raw records, quarantine reasons, image and mask checks."""

from __future__ import annotations

import io
import json
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from vrt.data import rle as rle_utils
from vrt.data import tfrecord
from vrt.data.example import decode_example
from vrt.data.schema import ref
from vrt.errors import UserError

# Quarantine reason codes (manifest `quarantine_reasons` keys).
CRC_MISMATCH = "crc_mismatch"
TRUNCATED = "truncated_record"
MALFORMED = "malformed_record"
UNDECODABLE_IMAGE = "undecodable_image"
MISSING_IMAGE = "missing_image"
INVALID_RLE = "invalid_rle"
MASK_SIZE = "mask_size_mismatch"
MISSING_OBJECT = "missing_object"
BAD_BOX = "bad_box"
AMBIGUOUS_BOX = "ambiguous_box_convention"
EMPTY_QUESTION = "empty_question"


class BadRecord(Exception):
    """A record to quarantine: `reason` is one of the codes above, `detail` says exactly what."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.key: str | None = None


@contextmanager
def keyed(key: str) -> Iterator[None]:
    """Label a BadRecord raised inside with the record's source key (for the quarantine list)."""
    try:
        yield
    except BadRecord as e:
        e.key = e.key or key
        raise


@dataclass(frozen=True)
class RawRecord:
    """One input record: its key (source key, or file#position before decoding), and the payload
    or the framing error that makes it unreadable."""

    key: str
    payload: Any = None
    error: tfrecord.RecordError | None = None


def check_tfrecords(paths: list[Path]) -> list[Path]:
    """`paths`, after checking that each file starts with a sound TFRecord header (UserError if not)."""
    for path in paths:
        with open(path, "rb") as f:
            first = next(tfrecord.iter_records(f), None)
        if isinstance(first, tfrecord.RecordError) and first.offset == 0:
            raise UserError(
                f"{path} is not a TFRecord file (first record: {first.detail}): "
                "check --source and --from, or download the file again"
            )
    return paths


def count_tfrecords(paths: list[Path]) -> int:
    """Records in TFRecord files, from their headers (for the progress bar)."""
    total = 0
    for path in paths:
        with open(path, "rb") as f:
            total += tfrecord.count_records(f)
    return total


def iter_tfrecords(paths: list[Path], root: Path) -> Iterator[RawRecord]:
    """Raw records of TFRecord files: payload = serialized Example bytes."""
    for path in paths:
        with open(path, "rb") as f:
            yield from iter_tfrecord_stream(f, path.relative_to(root).as_posix(), 0, 0, None)


def iter_tfrecord_stream(
    stream: BinaryIO, name: str, offset: int, first: int, count: int | None
) -> Iterator[RawRecord]:
    """`count` raw records (all when None) of TFRecord file `name` from a stream positioned at byte
    `offset`, record number `first` of the file (keys and error offsets as for the whole file)."""
    for i, item in enumerate(tfrecord.iter_records(stream)):
        if count is not None and i >= count:
            return
        key = f"{name}#{first + i}"
        if isinstance(item, tfrecord.RecordError):
            item = replace(item, offset=item.offset + offset)
            if item.tail_bytes and first + i:  # the estimate from the whole file's records so far
                item = replace(item, tail_records=max(1, round(item.tail_bytes * (first + i) / item.offset)))
            yield RawRecord(f"{key}@{item.offset}", error=item)
        else:
            yield RawRecord(key, payload=item)


def framing_error(error: tfrecord.RecordError) -> BadRecord:
    reason = CRC_MISMATCH if error.kind == "crc_mismatch" else TRUNCATED
    return BadRecord(reason, error.detail)


def decode_features(raw: RawRecord) -> dict[str, list]:
    """The Example features of a TFRecord payload; BadRecord on framing or protobuf damage."""
    if raw.error is not None:
        raise framing_error(raw.error)
    try:
        return decode_example(raw.payload)
    except ValueError as e:
        raise BadRecord(MALFORMED, f"not a tf.train.Example ({e})") from e


def feature_text(features: dict[str, list], name: str, required: bool = True) -> str | None:
    values = features.get(name)
    if not values:
        if required:
            raise BadRecord(MALFORMED, f"feature {name!r} is missing")
        return None
    try:
        return values[0].decode("utf-8") if isinstance(values[0], bytes) else str(values[0])
    except UnicodeDecodeError as e:
        raise BadRecord(MALFORMED, f"feature {name!r} is not UTF-8") from e


def feature_json(features: dict[str, list], name: str) -> Any:
    text = feature_text(features, name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise BadRecord(MALFORMED, f"feature {name!r} is not valid JSON ({e.msg} at {e.pos})") from e


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of encoded image bytes, after decoding all of their data; BadRecord if they do not
    decode. A JPEG is decoded in draft mode (1/8 scale): every entropy-coded byte is still decoded, so
    it fails exactly where a full decode fails, at ~60 % of the cost (benchmarks/data_scale.py)."""
    if not data:
        raise BadRecord(UNDECODABLE_IMAGE, "image bytes are empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                size = im.size
                if im.format == "JPEG":
                    im.draft(im.mode, (max(1, size[0] // 8), max(1, size[1] // 8)))
                im.load()
                return size
    except (
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as e:
        raise BadRecord(UNDECODABLE_IMAGE, f"image does not decode ({e})") from e


def mask_rle(segmentation: Any, obj_id: str, width: int, height: int) -> str:
    """Validated counts string of an object's COCO RLE, which must match the image size."""
    try:
        counts, size = rle_utils.normalize(segmentation)
    except (ValueError, TypeError) as e:
        raise BadRecord(INVALID_RLE, f"object {obj_id}: {e}") from e
    if size != (height, width):
        raise BadRecord(MASK_SIZE, f"object {obj_id}: mask is {size[1]}x{size[0]}, image is {width}x{height}")
    return counts


def check_question(question: str | None) -> str:
    if question is None or not question.strip():
        raise BadRecord(EMPTY_QUESTION, "question is empty")
    return question.strip()


_OBJ = r"<(obj\d+)>"
_WRAPPED = re.compile(rf"<(?:ver|vea)>\s*{_OBJ}\s*</(?:ver|vea)>")
_BARE = re.compile(_OBJ)


def rewrite_refs(text: str, known: set[str]) -> tuple[str, list[str]]:
    """`<ver><objN></ver>`, `<vea><objN></vea>` and bare `<objN>` -> `<ref:objN>`; returns the new
    text and the referenced ids in order of first appearance. BadRecord if an id is not in `known`."""
    text = _BARE.sub(lambda m: ref(m.group(1)), _WRAPPED.sub(lambda m: ref(m.group(1)), text))
    ids: list[str] = []
    for m in re.finditer(r"<ref:([^>]+)>", text):
        if m.group(1) not in known:
            raise BadRecord(MISSING_OBJECT, f"text references {m.group(1)}, which is not in the object pool")
        if m.group(1) not in ids:
            ids.append(m.group(1))
    return text, ids


def sample(
    *,
    id: str,
    source: str,
    image: bytes,
    width: int,
    height: int,
    question: str,
    objects: list[dict],
    reasoning_ids: list[str],
    answer_ids: list[str],
    reasoning: str | None = None,
    answer: str | None = None,
    class_ids: list[str] | None = None,
    extra: dict | None = None,
) -> dict:
    """A canonical sample row (schema v1), checking that every referenced id is in the pool."""
    pool = {o["id"] for o in objects}
    for oid in [*reasoning_ids, *answer_ids]:
        if oid not in pool:
            raise BadRecord(MISSING_OBJECT, f"object {oid} is referenced but not in the object pool")
    row = {
        "id": id,
        "source": source,
        "image": image,
        "width": width,
        "height": height,
        "question": question,
        "objects": objects,
        "reasoning_ids": reasoning_ids,
        "answer_ids": answer_ids,
        "reasoning": reasoning,
        "answer": answer,
        "class_ids": class_ids or [],
        "extra": json.dumps(extra or {}, sort_keys=True),
    }
    return row
