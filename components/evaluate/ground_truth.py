"""Canonical dataset rows (vrt/data/schema.py) -> the evaluation package's ground-truth dataclasses.

VRT-Bench: `reasoning_ids` / `answer_ids` name pool objects whose `rle` holds the mask.
ReasonSeg: the target is the union of the `answer_ids` objects (one in practice); a pool object
with id `ignore` that is not an answer object is the ignore region (LISA's convention), when a
converter keeps it apart.

    gts = load_ground_truth("vrt-bench", "data/vrt-bench")
"""

from __future__ import annotations

from evaluation import masks
from evaluation.reasonseg import ReasonSegGroundTruth
from evaluation.vrt_bench import VRTGroundTruth
from vrt.data.reader import NO_IMAGE, iter_samples
from vrt.errors import UserError

IGNORE_ID = "ignore"
SOURCE_OF = {"vrt-bench": "vrt-bench", "reasonseg": "reasonseg"}


def _rle(row: dict, obj_id: str, pool: dict[str, dict]) -> dict:
    if obj_id not in pool:
        raise UserError(
            f"sample {row['id']}: object {obj_id} is referenced but not in its object pool: prepare the dataset again"
        )
    counts = pool[obj_id]["rle"]
    if counts is None:
        raise UserError(
            f"sample {row['id']}: object {obj_id} has no mask (box only): a mask benchmark needs masks"
        )
    try:
        return masks.check({"size": [row["height"], row["width"]], "counts": counts})
    except ValueError as e:
        raise UserError(
            f"sample {row['id']}: object {obj_id} has a corrupt mask ({e}): prepare the dataset again"
        ) from None


def vrt_ground_truth(row: dict) -> VRTGroundTruth:
    """A canonical VRT-Bench row as VRTGroundTruth."""
    pool = {o["id"]: o for o in row["objects"]}
    return VRTGroundTruth(
        id=row["id"],
        height=row["height"],
        width=row["width"],
        reasoning=tuple(_rle(row, i, pool) for i in row["reasoning_ids"]),
        answer=tuple(_rle(row, i, pool) for i in row["answer_ids"]),
        classes=tuple(row["class_ids"]),
        image=row.get("image"),
        question=row["question"],
    )


def reasonseg_ground_truth(row: dict) -> ReasonSegGroundTruth:
    """A canonical ReasonSeg row as ReasonSegGroundTruth."""
    pool = {o["id"]: o for o in row["objects"]}
    size = (row["height"], row["width"])
    target = masks.union([_rle(row, i, pool) for i in row["answer_ids"]], size)
    has_ignore = (
        IGNORE_ID in pool and IGNORE_ID not in row["answer_ids"] and pool[IGNORE_ID]["rle"] is not None
    )
    return ReasonSegGroundTruth(
        id=row["id"],
        height=row["height"],
        width=row["width"],
        mask=target,
        ignore=_rle(row, IGNORE_ID, pool) if has_ignore else None,
        image=row.get("image"),
        question=row["question"],
    )


def load_ground_truth(bench: str, dataset_uri: str) -> list[VRTGroundTruth] | list[ReasonSegGroundTruth]:
    """All samples of a published canonical dataset as ground truth for `bench`, without their images
    (fetch those of the samples shown with `vrt.data.reader.read_images`)."""
    if bench not in SOURCE_OF:
        raise UserError(f"unknown benchmark {bench!r}: use one of {', '.join(SOURCE_OF)}")
    convert = vrt_ground_truth if bench == "vrt-bench" else reasonseg_ground_truth
    out = []
    for row in iter_samples(dataset_uri, columns=NO_IMAGE):
        if row["source"] != SOURCE_OF[bench]:
            raise UserError(
                f"{dataset_uri} holds {row['source']} samples (e.g. {row['id']}), not {bench}: "
                f"pass a {bench} dataset with --data, or the matching --bench"
            )
        out.append(convert(row))
    if not out:
        raise UserError(f"{dataset_uri} holds no samples: nothing to score")
    return out
