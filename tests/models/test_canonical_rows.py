"""The processor on rows of a real prepared dataset (`vrt data synth` -> `prepare` -> reader)."""

from __future__ import annotations

import pytest

from models.prompt import REF_PATTERN
from vrt.data.prepare import PrepareConfig, prepare
from vrt.data.reader import iter_samples
from vrt.data.synth import synthesize


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("rows")
    synthesize(root / "raw", 3, 2, 5, 96)
    for source, name in (("vrt-80k", "train"), ("vrt-bench", "bench")):
        prepare(PrepareConfig(source, str(root / "raw" / source), str(root / name)))
    return {name: list(iter_samples(str(root / name))) for name in ("train", "bench")}


def test_training_rows_collate_with_one_mask_per_mention(tiny_model, datasets):
    rows = datasets["train"]
    batch = tiny_model.processor.collate(rows, train=True)
    mentions = [len(REF_PATTERN.findall(r["reasoning"] + r["answer"])) for r in rows]
    segs = [int((ids == tiny_model.seg_token_id).sum()) for ids in batch["input_ids"]]
    assert segs == mentions == [g.shape[0] for g in batch["gt_masks"]]
    out = tiny_model(**batch)
    assert [m.shape[0] for m in out.pred_masks] == mentions


def test_bench_rows_without_refs_are_refused_for_training(tiny_model, datasets):
    row = datasets["bench"][0]
    with pytest.raises(
        ValueError, match=f"sample {row['id']}: has reasoning/answer objects but its text has no"
    ):
        tiny_model.processor.collate([row], train=True)
    batch = tiny_model.processor.collate([row], train=False)  # prompts for prediction are fine
    assert batch["input_ids"].shape[0] == 1
