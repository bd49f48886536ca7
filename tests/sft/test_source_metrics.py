"""Per-source loss terms of a step (components/sft/metrics.py SourceMetrics) against the forward's own
batch terms, on a batch mixing a VRT row (masks) and a VGR row (a box)."""

from __future__ import annotations

import pytest
import torch

from components.sft.metrics import SourceMetrics
from models import RSa2VA, load_preset
from tests.sft.canonical import write_dataset
from vrt.data.prepare import PrepareConfig, prepare
from vrt.data.reader import iter_samples
from vrt.data.synth import synthesize


@pytest.fixture(scope="module")
def forward(tmp_path_factory):
    root = tmp_path_factory.mktemp("per-source")
    synthesize(root / "raw", 2, 1, 0, 128)
    prepare(PrepareConfig("vgr", str(root / "raw" / "vgr"), str(root / "vgr")))
    vrt = list(iter_samples(str(write_dataset(root / "vrt", n=2, seed=0, shards=1))))
    vgr = list(iter_samples(str(root / "vgr")))
    model = RSa2VA.from_preset(load_preset("tiny"), seed=0)
    batch = model.processor.collate([vrt[0], vgr[0], vrt[1]], train=True)
    with torch.no_grad():
        return model(**batch), batch


def test_per_source_terms_recompose_the_batch_terms(forward):
    out, batch = forward
    per = SourceMetrics(["vrt-80k", "vgr"])
    per.add(out, batch, [0, 1, 0])
    values = per.reduce()
    assert sorted(values) == ["loss_ce/vgr", "loss_ce/vrt-80k", "loss_mask_bce/vrt-80k", "loss_mask_box/vgr",
                              "loss_mask_dice/vrt-80k", "mask_iou/vrt-80k"]
    # the tiny preset's mask loss is dense on every [SEG]: the batch terms are these sources' terms exactly
    assert values["loss_mask_box/vgr"] == pytest.approx(out.loss_mask_box.item(), rel=1e-5)
    assert values["loss_mask_dice/vrt-80k"] == pytest.approx(out.loss_mask_dice.item(), rel=1e-5)
    assert values["loss_mask_bce/vrt-80k"] == pytest.approx(out.loss_mask_bce.item(), rel=1e-5)
    assert values["mask_iou/vrt-80k"] == pytest.approx(out.mask_iou.item(), rel=1e-5)
    tokens = [int((batch["labels"][r, 1:] != -100).sum()) for r in range(3)]
    vgr_tokens, vrt_tokens = tokens[1], tokens[0] + tokens[2]
    mean = (values["loss_ce/vrt-80k"] * vrt_tokens + values["loss_ce/vgr"] * vgr_tokens) / sum(tokens)
    assert mean == pytest.approx(out.loss_ce.item(), rel=1e-5)  # token-weighted, as the batch CE


def test_rows_past_the_real_ones_and_absent_terms_are_left_out(forward):
    out, batch = forward
    per = SourceMetrics(["vrt-80k", "vgr"])
    per.add(out, batch, [0])  # only the first row is real (a short last step's filler follows)
    assert sorted(per.reduce()) == ["loss_ce/vrt-80k", "loss_mask_bce/vrt-80k", "loss_mask_dice/vrt-80k",
                                    "mask_iou/vrt-80k"]
    as_vgr = SourceMetrics(["vrt-80k", "vgr"])
    as_vgr.add(out, batch, [1])  # the terms follow the row's targets (masks here), not the source's name
    assert sorted(as_vgr.reduce()) == ["loss_ce/vgr", "loss_mask_bce/vgr", "loss_mask_dice/vgr", "mask_iou/vgr"]
