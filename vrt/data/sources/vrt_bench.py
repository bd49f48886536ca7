"""VRT-Bench (`vrt_eval.tfrecord`): object pool + human-labelled reasoning/answer index lists.

Features per record: key, image, question, objects_info_json ({obj_id: {mask, original_id,
caption}}), human_labeled_r_objs / human_labeled_a_objs (int64 object ids: KEYS of that pool,
`objects_info[int(id)]` as the authors' evaluation reads them, not positions in its JSON order),
human_confidence, class_ids, optional human_reasoning / human_answer_caption. Pool ids are kept
as given (str of the key); an id missing from the pool quarantines the record.
`pool_sample` also serves VRT-80k records in this layout.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from vrt.data.schema import CLASSES
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

SOURCE = "vrt-bench"


def find_inputs(root: Path) -> list[Path]:
    paths = sorted(root.rglob("*.tfrecord"))
    if not paths:
        raise UserError(
            f"no *.tfrecord file under {root}: point --from at the VRT-Eval snapshot (vrt_eval.tfrecord)"
        )
    return check_tfrecords(paths)


def count(paths: list[Path]) -> int:
    return count_tfrecords(paths)


def iter_raw(paths: list[Path], root: Path) -> Iterator[RawRecord]:
    return iter_tfrecords(paths, root)


def _pool(info: object, width: int, height: int) -> tuple[list[dict], dict]:
    if not isinstance(info, dict):
        raise BadRecord(MALFORMED, "objects_info_json is not a JSON object")
    objects, original_ids = [], {}
    for obj_id, obj in info.items():
        if not isinstance(obj, dict) or "mask" not in obj:
            raise BadRecord(MALFORMED, f"object {obj_id} has no mask")
        rle = mask_rle(obj["mask"], obj_id, width, height)
        objects.append({"id": str(obj_id), "caption": obj.get("caption"), "rle": rle, "box": None})
        original_ids[str(obj_id)] = obj.get("original_id")
    return objects, original_ids


def _pick(objects: list[dict], keys: list[int], name: str) -> list[str]:
    """The pool ids named by `keys` (object ids, looked up as int keys of objects_info_json)."""
    by_key: dict[int, str] = {}
    for obj in objects:
        try:
            by_key[int(obj["id"])] = obj["id"]
        except ValueError:
            continue
    ids = []
    for key in keys:
        if int(key) not in by_key:
            raise BadRecord(MISSING_OBJECT, f"{name} id {key} is not a key of objects_info_json")
        ids.append(by_key[int(key)])
    return ids


def _classes(features: dict[str, list]) -> list[str]:
    classes = [c.decode() if isinstance(c, bytes) else str(c) for c in features.get("class_ids", [])]
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise BadRecord(MALFORMED, f"unknown class ids {unknown}: expected a subset of {list(CLASSES)}")
    return classes


def _first_text(features: dict[str, list], names: tuple[str, ...]) -> str | None:
    for name in names:
        text = feature_text(features, name, required=False)
        if text and text.strip():
            return text.strip()
    return None


def pool_sample(features: dict[str, list], source: str, extra: dict | None = None) -> dict:
    """A canonical sample from a pool-layout record (VRT-Bench, or VRT-80k in this layout).
    Index lists: human_labeled_r_objs / human_labeled_a_objs (or r_objs / a_objs)."""
    key = feature_text(features, "key")
    with keyed(key):
        return _pool_sample(key, features, source, extra or {})


def _pool_sample(key: str, features: dict[str, list], source: str, extra: dict) -> dict:
    image = features.get("image", [b""])[0]
    width, height = image_size(image)
    question = check_question(feature_text(features, "question", required=False))
    objects, original_ids = _pool(feature_json(features, "objects_info_json"), width, height)
    r_name = "human_labeled_r_objs" if "human_labeled_r_objs" in features else "r_objs"
    a_name = "human_labeled_a_objs" if "human_labeled_a_objs" in features else "a_objs"
    reasoning_ids = _pick(objects, features.get(r_name, []), r_name)
    answer_ids = _pick(objects, features.get(a_name, []), a_name)
    known = {o["id"] for o in objects}
    reasoning = _first_text(features, ("human_reasoning", "reasoning"))
    answer = _first_text(features, ("human_answer_caption", "answer_caption"))
    if reasoning is not None:
        reasoning = rewrite_refs(reasoning, known)[0]
    if answer is not None:
        answer = rewrite_refs(answer, known)[0]
    confidence = features.get("human_confidence")
    extra = extra | {"original_ids": original_ids}
    if confidence:
        extra["human_confidence"] = confidence[0]
    return sample(
        id=key,
        source=source,
        image=image,
        width=width,
        height=height,
        question=question,
        objects=objects,
        reasoning_ids=reasoning_ids,
        answer_ids=answer_ids,
        reasoning=reasoning,
        answer=answer,
        class_ids=_classes(features),
        extra=extra,
    )


def convert(raw: RawRecord) -> dict:
    features = decode_features(raw)
    return pool_sample(features, SOURCE)


def tally(row: dict) -> list[str]:
    """Counters for the manifest: samples without human reasoning text."""
    return [] if row["reasoning"] else ["lacking_reasoning"]
