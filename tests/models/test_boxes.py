"""SAM 2 box prompts -> RLE masks (models/boxes.py) with the tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from evaluation import masks

H, W = 60, 90


@pytest.fixture(scope="module")
def model(tiny_model):
    return tiny_model.eval()


@pytest.fixture(scope="module")
def image() -> Image.Image:
    rgb = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8)
    return Image.fromarray(rgb)


def test_one_rle_per_box_at_image_size(model, image):
    from models.boxes import masks_from_boxes

    rles = masks_from_boxes(model, image, [[0, 0, 45, 30], [45, 30, 90, 60], [10.5, 5.0, 80.0, 55.5]])
    assert len(rles) == 3
    assert [r["size"] for r in rles] == [[H, W]] * 3
    assert [masks.check(r) for r in rles] == rles
    assert masks_from_boxes(model, image, []) == []


def test_different_boxes_differ_and_results_are_deterministic(model, image):
    from models.boxes import masks_from_boxes

    a, b = masks_from_boxes(model, image, [[0, 0, 45, 30], [45, 30, 90, 60]])
    assert masks.decode(a).tolist() != masks.decode(b).tolist()
    assert masks_from_boxes(model, image, [[0, 0, 45, 30]]) == [a]  # alone or batched: same mask
    assert masks_from_boxes(model, image, [[45, 30, 90, 60]]) == [b]


def test_outside_coordinates_are_clipped(model, image):
    from models.boxes import masks_from_boxes

    assert masks_from_boxes(model, image, [[-20, -7, 500, 61]]) == masks_from_boxes(
        model, image, [[0, 0, W, H]]
    )


def test_matches_sam2_forward_with_boxes_in_sam_input_frame(model, image):
    """The mask equals Sam2Model's own forward on the box rescaled from image pixels to SAM's input size."""
    from models.boxes import masks_from_boxes

    box = [9.0, 6.0, 63.0, 48.0]
    size = model.sam.prompt_encoder.input_image_size
    scaled = torch.tensor([[[box[0] * size / W, box[1] * size / H, box[2] * size / W, box[3] * size / H]]])
    with torch.inference_mode():
        pixels = model.processor.encode_images([image])["sam_pixel_values"]
        out = model.sam(pixel_values=pixels, input_boxes=scaled, multimask_output=False)
        logits = F.interpolate(out.pred_masks[0, :, 0][:, None], size=(H, W), mode="bilinear")[:, 0]
    expected = masks.encode((logits[0] > 0).numpy())
    assert masks_from_boxes(model, image, [box]) == [expected]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ([1, 2, 3], r"box 1 \[1, 2, 3\]: a box is a list of 4 numbers"),
        ("0 0 9 9", r"box 1 '0 0 9 9': a box is a list of 4 numbers"),
        ([0, 0, float("nan"), 9], r"box 1 \[0, 0, nan, 9\]: coordinates must be finite"),
        ([0, True, 9, 9], r"box 1 \[0, True, 9, 9\]: coordinates must be finite"),
        ([9, 0, 2, 9], r"box 1 \[9, 0, 2, 9\]: needs x2 > x1 and y2 > y1"),
        ([0, 9, 9, 9], r"box 1 \[0, 9, 9, 9\]: needs x2 > x1 and y2 > y1"),
        ([100, 10, 120, 20], r"box 1 \[100, 10, 120, 20\]: lies outside the 90x60"),
    ],
)
def test_bad_boxes_name_the_box(model, image, bad, message):
    from models.boxes import masks_from_boxes

    with pytest.raises(ValueError, match=message):
        masks_from_boxes(model, image, [[0, 0, 10, 10], bad])
