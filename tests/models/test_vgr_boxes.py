"""VGR as training data: each `<sot>[box]<eot>` region becomes `<objN> [SEG]` whose mask is trained
with the box projection loss (BoxInst), never with BCE/Dice against a filled box."""

from __future__ import annotations

import pytest
import torch
from model_synth import make_samples

from models.losses import box_projection_loss
from models.processing import box_target
from models.tokenizer import IM_END, SEG_TOKEN
from vrt.data.prepare import PrepareConfig, prepare
from vrt.data.reader import iter_samples
from vrt.data.synth import synthesize

ON, OFF = 1e4, -1e4  # logits whose sigmoid is exactly 1 / 0 in float32


def _box(size: int, rows: tuple[int, int], cols: tuple[int, int]) -> torch.Tensor:
    out = torch.zeros(1, size, size)
    out[0, rows[0] : rows[1], cols[0] : cols[1]] = 1.0
    return out


def _logits(mask: torch.Tensor, inside: float = ON, outside: float = OFF) -> torch.Tensor:
    return torch.where(mask > 0, torch.tensor(inside), torch.tensor(outside))


BOX = _box(8, (2, 4), (1, 5))  # 2 rows x 4 columns of an 8 x 8 grid


@pytest.mark.parametrize(
    ("logits", "want"),
    [
        (_logits(BOX), 0.0),  # the prediction fills exactly the box
        (torch.full((1, 8, 8), OFF), 2.0),  # an empty prediction: 1 per axis
        (torch.full((1, 8, 8), ON), (1 - 8 / 12) + (1 - 4 / 10)),  # everything: 1 - 2*4/(8+4), 1 - 2*2/(8+2)
        (_logits(BOX, inside=0.0), 2 * (1 - 1 / 1.25)),  # p = 0.5 inside: 1 - 2*0.5n/(0.25n + n) per axis
        (_logits(_box(8, (2, 4), (1, 3))), 1 - 4 / 6),  # right rows, half the columns: only x is off
        (_logits(_box(8, (5, 7), (1, 5))), 1.0),  # shifted rows: x projections agree (0), y disjoint (1)
    ],
    ids=["exact", "empty", "full", "half-prob", "half-width", "shifted-rows"],
)
def test_box_projection_loss_case_table(logits, want):
    assert box_projection_loss(logits, BOX, eps=0.0).item() == pytest.approx(want, abs=1e-6)


def test_box_projection_loss_averages_masks_and_sees_only_projections():
    logits = torch.cat([_logits(BOX), torch.full((1, 8, 8), OFF)])
    assert box_projection_loss(logits, torch.cat([BOX, BOX]), eps=0.0).item() == pytest.approx(1.0)
    # a prediction touching every row and column of the box has projection loss 0 (the box's only cue)
    cross = torch.zeros(1, 8, 8)
    cross[0, 2:4, 2] = 1
    cross[0, 3, 1:5] = 1
    assert box_projection_loss(_logits(cross), BOX, eps=0.0).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    ("box", "rows", "cols"),
    [([0, 0, 96, 96], (0, 8), (0, 8)), ([12, 24, 36, 60], (2, 5), (1, 3)), ([13, 25, 14, 26], (2, 3), (1, 2))],
)
def test_box_target_covers_the_cells_of_the_box(box, rows, cols):
    assert torch.equal(box_target(box, 96, 96, 8, "b"), _box(8, rows, cols)[0])


@pytest.mark.parametrize("box", [[10, 10, 10, 20], [0, 0, 97, 10], [5, 5], "x"])
def test_box_target_refuses_bad_boxes(box):
    with pytest.raises(ValueError, match="^o: box"):
        box_target(box, 96, 96, 8, "o")


def _vgr_row() -> dict:
    row = dict(make_samples(1, size=96)[0])
    row.update(id="vgr-1", source="vgr", answer="the cup", answer_ids=[], reasoning_ids=["b0"],
               reasoning="Look at <ref:b0> first. Final answer: the cup",
               objects=[{"id": "b0", "caption": None, "rle": None, "box": [12.0, 24.0, 36.0, 60.0]}])
    return row


def test_vgr_box_becomes_obj_seg_with_a_box_target(tiny_model):
    proc = tiny_model.processor
    batch = proc.collate([_vgr_row()], train=True)
    labels = batch["labels"][0]
    target = labels[labels != -100].tolist()
    assert proc.tokenizer.decode(target) == (
        f"<think>Look at <ver><obj1> {SEG_TOKEN}</ver> first. Final answer: the cup</think>\n\n"
        f"<answer>the cup</answer>{IM_END}")
    assert target.count(proc.seg_token_id) == 1
    size = proc.settings.mask_loss_size
    assert batch["gt_is_box"][0].tolist() == [True]
    assert torch.equal(batch["gt_masks"][0][0], box_target([12, 24, 36, 60], 96, 96, size, "b"))
    out = tiny_model(**batch)
    assert out.mask_iou is None and out.loss_mask_bce.item() == 0.0 and out.loss_mask_dice.item() == 0.0
    assert out.loss_mask_box.item() == pytest.approx(box_projection_loss(out.pred_masks[0], batch["gt_masks"][0]).item())
    w = tiny_model.preset.loss
    assert out.loss.item() == pytest.approx(w.ce * out.loss_ce.item() + w.box * out.loss_mask_box.item(), rel=1e-5)


def test_mixed_batch_trains_masks_with_bce_dice_and_boxes_with_projection(tiny_model):
    vrt = make_samples(1, size=96)[0]
    batch = tiny_model.processor.collate([vrt, _vgr_row()], train=True)
    assert [f.tolist() for f in batch["gt_is_box"]] == [[False] * batch["gt_masks"][0].shape[0], [True]]
    out = tiny_model(**batch)
    assert out.mask_iou is not None and out.loss_mask_dice.item() > 0 and out.loss_mask_box.item() > 0
    out.loss.backward()
    assert tiny_model.seg_projection[0].weight.grad.abs().sum() > 0
    tiny_model.zero_grad()
    assert "gt_is_box" not in tiny_model.processor.collate([vrt], train=True)  # mask-only batches are unchanged


def test_prepared_vgr_rows_collate_one_box_seg_per_region(tiny_model, tmp_path):
    synthesize(tmp_path / "raw", 4, 1, 3, 96)
    prepare(PrepareConfig("vgr", str(tmp_path / "raw" / "vgr"), str(tmp_path / "vgr")))
    rows = list(iter_samples(str(tmp_path / "vgr")))
    batch = tiny_model.processor.collate(rows, train=True)
    regions = [r["reasoning"].count("<ref:") for r in rows]
    assert [int((ids == tiny_model.seg_token_id).sum()) for ids in batch["input_ids"]] == regions
    assert [f.tolist() for f in batch["gt_is_box"]] == [[True] * n for n in regions]


def test_box_targets_with_the_authors_point_sampled_slots(tiny_preset):
    """The real presets' loss (5 slots per sample, point-sampled BCE + Dice): box slots go to the projection
    loss, mask slots to BCE + Dice, a box-only batch has no BCE/Dice term."""
    from models import RSa2VA
    from models.config import preset_from_dict

    data = tiny_preset.to_dict()
    data["loss"] = {**data["loss"], "mask_loss": "points", "mask_slots": 5, "num_points": 256}
    model = RSa2VA.from_preset(preset_from_dict(data), seed=0)
    mixed = model(**model.processor.collate([make_samples(1, size=96)[0], _vgr_row()], train=True))
    assert mixed.loss_mask_bce.item() > 0 and mixed.loss_mask_box.item() > 0 and torch.isfinite(mixed.loss)
    boxes = model(**model.processor.collate([_vgr_row()], train=True))
    assert boxes.loss_mask_bce.item() == 0.0 and boxes.loss_mask_box.item() > 0
