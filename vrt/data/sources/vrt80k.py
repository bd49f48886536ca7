"""VRT-80k (`ver_training_*.tfrecord`): features key, image, json — two layouts accepted.

Authors' layout: json = {generated_ver_data: {candidates: [{question, reasoning,
answer_caption, answer_objects: ["<objN>"], score}]}, original_annotation: {objects_anns:
{"<objN>": {segmentation: COCO-RLE or list of RLEs, caption}}}, image_name}. Reasoning wraps
objects as `<ver><objN></ver>`, the answer as `<vea><objN></vea>`; both become `<ref:objN>`.
Pool layout (as reported for the released files): VRT-Bench-like features (objects_info_json,
r/a index lists) with empty reasoning. Samples without reasoning text are counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from vrt.data.sources import vrt_bench
from vrt.data.sources.common import (
    MALFORMED,
    MISSING_OBJECT,
    BadRecord,
    RawRecord,
    check_question,
    check_tfrecords,
    count_tfrecords,
    decode_features,
    feature_json,
    feature_text,
    image_size,
    iter_tfrecords,
    keyed,
    mask_rle,
    rewrite_refs,
    sample,
)
from vrt.errors import UserError

SOURCE = "vrt-80k"


def find_inputs(root: Path) -> list[Path]:
    paths = sorted(root.rglob("ver_training_*.tfrecord"))
    if not paths:
        raise UserError(
            f"no ver_training_*.tfrecord file under {root}: point --from at the VisualReasoningTracer snapshot"
        )
    return check_tfrecords(paths)


def count(paths: list[Path]) -> int:
    return count_tfrecords(paths)


def iter_raw(paths: list[Path], root: Path) -> Iterator[RawRecord]:
    return iter_tfrecords(paths, root)


def _obj_id(name: str) -> str:
    return name.strip().removeprefix("<").removesuffix(">")


def _candidate(doc: dict) -> dict:
    try:
        cand = doc["generated_ver_data"]["candidates"][0]
        anns = doc["original_annotation"]["objects_anns"]
    except (KeyError, IndexError, TypeError) as e:
        raise BadRecord(
            MALFORMED, f"json lacks generated_ver_data.candidates[0] or objects_anns ({e!r})"
        ) from e
    if not isinstance(cand, dict) or not isinstance(anns, dict):
        raise BadRecord(MALFORMED, "candidates[0] and objects_anns must be JSON objects")
    return cand


def _authors_sample(key: str, features: dict[str, list]) -> dict:
    image = features.get("image", [b""])[0]
    width, height = image_size(image)
    doc = feature_json(features, "json")
    if not isinstance(doc, dict):
        raise BadRecord(MALFORMED, "json feature is not a JSON object")
    cand = _candidate(doc)
    question = check_question(cand.get("question"))
    objects = []
    for name, ann in doc["original_annotation"]["objects_anns"].items():
        oid = _obj_id(name)
        if not isinstance(ann, dict) or "segmentation" not in ann:
            raise BadRecord(MALFORMED, f"object {oid} has no segmentation")
        rle = mask_rle(ann["segmentation"], oid, width, height)
        objects.append({"id": oid, "caption": ann.get("caption"), "rle": rle, "box": None})
    known = {o["id"] for o in objects}
    reasoning, reasoning_ids = rewrite_refs(cand.get("reasoning") or "", known)
    answer, _ = rewrite_refs(cand.get("answer_caption") or "", known)
    answer_ids = [_obj_id(a) for a in cand.get("answer_objects") or []]
    missing = [a for a in answer_ids if a not in known]
    if missing:
        raise BadRecord(MISSING_OBJECT, f"answer_objects {missing} are not in objects_anns")
    extra = {"image_name": doc.get("image_name"), "score": cand.get("score"), "layout": "authors"}
    return sample(
        id=key,
        source=SOURCE,
        image=image,
        width=width,
        height=height,
        question=question,
        objects=objects,
        reasoning_ids=reasoning_ids,
        answer_ids=answer_ids,
        reasoning=reasoning.strip() or None,
        answer=answer.strip() or None,
        extra=extra,
    )


def convert(raw: RawRecord) -> dict:
    features = decode_features(raw)
    if "json" not in features and "objects_info_json" in features:
        return vrt_bench.pool_sample(features, SOURCE, {"layout": "pool"})
    key = feature_text(features, "key")
    with keyed(key):
        return _authors_sample(key, features)


def tally(row: dict) -> list[str]:
    """Counters for the manifest: records lacking reasoning text, and which layout each came in."""
    layout = json.loads(row["extra"])["layout"]
    return [f"layout_{layout}"] + (["lacking_reasoning"] if not (row["reasoning"] or "").strip() else [])
