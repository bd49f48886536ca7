"""Canonical rows -> prompts and reward ground truth (answer masks, boxes, interior points)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from components.grpo.samples import interior_points, reward_samples, to_prompt
from evaluation import masks


def _row(objects: list[dict], answer_ids: list[str], size: tuple[int, int] = (40, 60)) -> dict:
    buf = io.BytesIO()
    Image.new("RGB", (size[1], size[0]), (10, 20, 30)).save(buf, format="PNG")
    return {
        "id": "r1",
        "image": buf.getvalue(),
        "height": size[0],
        "width": size[1],
        "question": "Which?",
        "objects": objects,
        "answer_ids": answer_ids,
        "extra": json.dumps({}),
    }


def _rect(y0: int, y1: int, x0: int, x1: int, size: tuple[int, int] = (40, 60)) -> np.ndarray:
    m = np.zeros(size, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_to_prompt_answer_masks_boxes_points():
    wide = _rect(10, 20, 0, 40)  # 10 x 40 bar: split left/right
    obj = {"id": "a", "caption": "bar", "rle": masks.encode(wide)["counts"], "box": None}
    other = {"id": "b", "caption": "x", "rle": None, "box": [1.0, 2.0, 11.0, 22.0]}
    p = to_prompt(_row([obj, other], ["a", "b"]))
    assert (p.id, p.question, p.image.size) == ("r1", "Which?", (60, 40))
    assert len(p.answer_masks) == 1 and masks.decode(p.answer_masks[0]).sum() == 400
    assert p.boxes == ((0.0, 10.0, 40.0, 20.0), (1.0, 2.0, 11.0, 22.0))
    (l, r), (c1, c2) = p.points
    assert l[0] < 20 <= r[0] and 10 <= l[1] < 20 and 10 <= r[1] < 20
    assert c1 == c2 == (6.0, 12.0)  # no mask: the box centre


def test_interior_points_tall_object_split_top_bottom():
    tall = _rect(0, 40, 5, 15)
    top, bottom = interior_points(tall, (5.0, 0.0, 15.0, 40.0))
    assert top[1] < 20 <= bottom[1]
    assert all(tall[int(y), int(x)] for x, y in (top, bottom))


def test_to_prompt_bad_rows():
    with pytest.raises(ValueError, match="sample r1: answer object 'z' is not in its object pool"):
        to_prompt(_row([], ["z"]))
    bad = _row([], [])
    bad["image"] = b"not an image"
    with pytest.raises(ValueError, match="sample r1: image bytes are not a readable image"):
        to_prompt(bad)


def test_reward_samples_pairs_traces_with_their_prompt():
    class T:
        def __init__(self, text):
            self.text, self.masks = text, ()

    m = _rect(0, 5, 0, 5)
    p1 = to_prompt(_row([{"id": "a", "caption": "", "rle": masks.encode(m)["counts"], "box": None}], ["a"]))
    p2 = to_prompt(_row([], []))
    out = reward_samples([p1, p2], [T("x0"), T("x1"), T("y0"), T("y1")], group_size=2)
    assert [s.completion for s in out] == ["x0", "x1", "y0", "y1"]
    assert [len(s.gt_answer_masks) for s in out] == [1, 1, 0, 0]
    with pytest.raises(ValueError, match="3 traces for 2 prompts x 2 rollouts"):
        reward_samples([p1, p2], [T("a")] * 3, group_size=2)
