"""SAM 2 box prompts -> masks: one COCO RLE per `[x1, y1, x2, y2]` box, at the image's resolution.

    from models.boxes import masks_from_boxes
    rles = masks_from_boxes(model.eval(), image, [[4, 6, 40, 30], [50, 10, 88, 58]])

Box-mode models answer with boxes; evaluation scores masks, so each box goes through the model's
SAM 2 (image features computed once per image, the prompt encoder's box input, single-mask
output), logits thresholded at 0 after bilinear upsampling to the image size.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from PIL import Image

from evaluation.masks import encode as encode_rle
from models.processing import check_image

if TYPE_CHECKING:
    from models.modeling import RSa2VA


def _check_box(box: object, k: int, width: int, height: int) -> tuple[float, float, float, float]:
    """Box k as floats, clipped to the image ([0, width] x [0, height]); ValueError naming the box."""
    where = f"box {k} {box!r}"
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise ValueError(f"{where}: a box is a list of 4 numbers [x1, y1, x2, y2] in image pixels")
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in box):
        raise ValueError(f"{where}: coordinates must be finite numbers (pixels)")
    x1, y1, x2, y2 = (float(v) for v in box)
    if x2 <= x1 or y2 <= y1:
        raise ValueError(f"{where}: needs x2 > x1 and y2 > y1 (xyxy order, not xywh)")
    cx1, cx2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
    cy1, cy2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
    if cx2 <= cx1 or cy2 <= cy1:
        raise ValueError(f"{where}: lies outside the {width}x{height} (w x h) image")
    return cx1, cy1, cx2, cy2


def _decode(model: RSa2VA, features: list[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
    """Low-res mask logits (K, h, w) for K boxes in SAM 2 input coordinates."""
    sam = model.sam
    sparse, dense = sam.prompt_encoder(
        input_points=None, input_labels=None, input_boxes=boxes[None], input_masks=None
    )
    masks, _, _, _ = sam.mask_decoder(
        image_embeddings=features[-1],
        image_positional_embeddings=sam.get_image_wide_positional_embeddings(),
        sparse_prompt_embeddings=sparse.to(features[-1].dtype),
        dense_prompt_embeddings=dense.to(features[-1].dtype),
        multimask_output=False,
        high_resolution_features=features[:-1],
    )
    return masks[0, :, 0]


def masks_from_boxes(model: RSa2VA, image: Image.Image, boxes: list[list[float]]) -> list[dict]:
    """One COCO RLE (size == [image.height, image.width]) per box, in order.

    Boxes are `[x1, y1, x2, y2]` in the image's pixels (x right, y down, corners of the pixel
    grid: the whole image is [0, 0, width, height]). Coordinates outside the image are CLIPPED
    to it; a box that is not 4 finite numbers, has x2 <= x1 or y2 <= y1, or lies entirely
    outside the image raises ValueError naming the box. Put the model in eval mode first.
    """
    image = check_image(image, "box prompts", model.preset.max_image_side)
    width, height = image.width, image.height
    checked = [_check_box(b, k, width, height) for k, b in enumerate(boxes)]
    if not checked:
        return []
    size = model.sam.prompt_encoder.input_image_size  # SAM sees the image resized to size x size
    scale = torch.tensor([size / width, size / height, size / width, size / height])
    with torch.inference_mode():
        pixels = model.processor.encode_images([image])["sam_pixel_values"].to(model.device)
        features = model.sam_features(pixels)
        prompts = (torch.tensor(checked, dtype=torch.float32) * scale).to(model.device)
        logits = _decode(model, features, prompts)
        full = F.interpolate(logits[:, None].float(), size=(height, width), mode="bilinear")[:, 0] > 0
    return [encode_rle(m.cpu().numpy()) for m in full]
