"""[SEG] -> SAM 2 exactly as the authors feed it: checked against a direct `Sam2Model` call.

The reference is transformers' published Sam2Model run the way Sa2VA's SAM 2 extension runs it
(HF/sam2.py `_forward_sam_heads`): the prompt encoder gets one padding point of label -1, the
language embedding is concatenated after its sparse output, `multimask_output=True`, and the mask
with the highest predicted IoU is kept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from models.generation import masks_at_image_size


def _reference(sam, pixels: torch.Tensor, prompts: torch.Tensor):
    """Sam2Model.forward with a label -1 point per prompt and the prompt appended to the sparse tokens."""
    k = prompts.shape[0]

    def append_language(module, args, output):
        sparse, dense = output
        return torch.cat([sparse, prompts[None, :, None, :]], dim=2), dense

    handle = sam.prompt_encoder.register_forward_hook(append_language)
    try:
        out = sam(
            pixel_values=pixels,
            input_points=torch.zeros(1, k, 1, 2),
            input_labels=-torch.ones(1, k, 1, dtype=torch.int32),
            multimask_output=True,
        )
    finally:
        handle.remove()
    best = out.iou_scores[0].argmax(-1)
    rows = torch.arange(k)
    return out.pred_masks[0, rows, best], out.iou_scores[0, rows, best], out.pred_masks[0]


def test_seg_decode_equals_direct_sam2_call(tiny_model):
    torch.manual_seed(0)
    pixels = torch.randn(1, 3, 128, 128)
    prompts = torch.randn(4, tiny_model.sam.config.mask_decoder_config.hidden_size)
    with torch.no_grad():
        features = tiny_model.sam_features(pixels)
        masks, scores = tiny_model.decode_masks(features, 0, prompts)
        want_masks, want_scores, all_three = _reference(tiny_model.sam, pixels, prompts)
    assert masks.shape == (4, 32, 32) and all_three.shape == (4, 3, 32, 32)
    torch.testing.assert_close(masks, want_masks, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(scores, want_scores, rtol=1e-5, atol=1e-5)
    # the choice matters: the kept mask is not always the first of the three
    assert not torch.allclose(all_three[:, 0], want_masks)


def test_sparse_prompt_is_two_padding_points_then_the_language_token(tiny_model):
    seen = {}

    def record(module, args, kwargs):
        seen["sparse"] = kwargs["sparse_prompt_embeddings"]
        seen["multimask"] = kwargs["multimask_output"]

    handle = tiny_model.sam.mask_decoder.register_forward_pre_hook(record, with_kwargs=True)
    prompts = torch.randn(2, 64)
    try:
        with torch.no_grad():
            tiny_model.decode_masks(tiny_model.sam_features(torch.zeros(1, 3, 128, 128)), 0, prompts)
    finally:
        handle.remove()
    nap = tiny_model.sam.prompt_encoder.not_a_point_embed.weight[0]
    sparse = seen["sparse"][0]
    assert sparse.shape == (2, 3, 64) and seen["multimask"] is True
    assert torch.equal(sparse[:, 0], nap.expand(2, -1)) and torch.equal(sparse[:, 1], nap.expand(2, -1))
    assert torch.equal(sparse[:, 2], prompts)


def test_masks_go_through_sam_size_then_image_size():
    torch.manual_seed(1)
    logits = torch.randn(2, 8, 8)
    got = masks_at_image_size(logits, sam_size=32, height=20, width=30)
    step = F.interpolate(logits[:, None], size=(32, 32), mode="bilinear", align_corners=False)
    want = F.interpolate(step, size=(20, 30), mode="bilinear", align_corners=False)[:, 0].sigmoid() > 0.5
    assert got.dtype == torch.bool and torch.equal(got, want)
    direct = F.interpolate(logits[:, None], size=(20, 30), mode="bilinear", align_corners=False)[:, 0] > 0
    assert not torch.equal(got, direct)  # the intermediate SAM-size step changes pixels
