"""Canonical rows -> GRPO prompts (image, question) and the ground truth the rewards compare against.

    prompt = to_prompt(row)                            # PromptSample: image (PIL), question, truth
    reward_inputs = reward_samples(prompts, traces, group_size)

Ground truth per row: the answer objects' masks (RLE at image size, for `vrt_answer_iou`), and
for box rewards (`seg_zero`, `vision_reasoner`) each answer object's box (the pool box, else
the mask's bounding box) and two interior points (the deepest mask pixel of each half of the
object along its longer side; the box centre when there is no mask), in image pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from components.grpo.rewards import Box, Point, RewardSample
from evaluation import masks


@dataclass(frozen=True)
class PromptSample:
    id: str
    image: Image.Image
    question: str
    answer_masks: tuple[dict, ...]
    boxes: tuple[Box, ...]
    points: tuple[tuple[Point, ...], ...]


def _deepest(mask: np.ndarray) -> Point | None:
    from scipy.ndimage import distance_transform_edt

    if not mask.any():
        return None
    depth = distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return float(x), float(y)


def interior_points(mask: np.ndarray, box: Box) -> tuple[Point, Point]:
    """Two points inside the object: the deepest pixel of each half along the longer side of its box."""
    centre = ((box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0)
    if not mask.any():
        return centre, centre
    halves = np.zeros_like(mask), np.zeros_like(mask)
    if box[2] - box[0] >= box[3] - box[1]:
        cut = round(centre[0])
        halves[0][:, :cut], halves[1][:, cut:] = mask[:, :cut], mask[:, cut:]
    else:
        cut = round(centre[1])
        halves[0][:cut], halves[1][cut:] = mask[:cut], mask[cut:]
    whole = _deepest(mask)
    first, second = _deepest(halves[0]) or whole, _deepest(halves[1]) or whole
    return first, second


def _mask_box(mask: np.ndarray) -> Box:
    ys, xs = np.nonzero(mask)
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def to_prompt(row: dict[str, Any]) -> PromptSample:
    """The prompt and ground truth of one canonical row (ValueError naming the sample when unusable)."""
    sid = str(row.get("id", "?"))
    try:
        image = Image.open(io.BytesIO(row["image"])).convert("RGB")
    except Exception as e:
        raise ValueError(f"sample {sid}: image bytes are not a readable image ({e})") from e
    pool = {o["id"]: o for o in row.get("objects") or []}
    height, width = int(row["height"]), int(row["width"])
    rles, boxes, points = [], [], []
    for obj_id in row.get("answer_ids") or []:
        if obj_id not in pool:
            raise ValueError(f"sample {sid}: answer object {obj_id!r} is not in its object pool")
        obj = pool[obj_id]
        rle = {"size": [height, width], "counts": obj["rle"]} if obj.get("rle") else None
        mask = masks.decode(rle) if rle else np.zeros((height, width), bool)
        box = (
            tuple(float(v) for v in obj["box"])
            if obj.get("box")
            else (_mask_box(mask) if mask.any() else None)
        )
        if rle:
            rles.append(rle)
        if box is not None:
            boxes.append(box)
            points.append(interior_points(mask, box))
    return PromptSample(sid, image, str(row.get("question") or ""), tuple(rles), tuple(boxes), tuple(points))


def reward_samples(prompts: list[PromptSample], traces: list[Any], group_size: int) -> list[RewardSample]:
    """One RewardSample per trace; trace i belongs to prompt i // group_size."""
    if len(traces) != len(prompts) * group_size:
        raise ValueError(f"{len(traces)} traces for {len(prompts)} prompts x {group_size} rollouts")
    out = []
    for i, trace in enumerate(traces):
        p = prompts[i // group_size]
        out.append(RewardSample(trace.text, tuple(trace.masks), p.answer_masks, p.boxes, p.points))
    return out
