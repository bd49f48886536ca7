"""SFT ingest: every row exactly once per epoch across workers, deterministic plans, bad datasets."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from components.sft.ingest import MicroBatchSource, ShardRows, StepPlan, micro_batch_loader, open_dataset
from tests.sft.canonical import write_dataset
from vrt.errors import UserError


@pytest.mark.parametrize(
    ("rows", "global_batch", "workers", "accum"),
    [((50, 50), 8, 2, 2), ((7, 3, 1), 4, 2, 1), ((5,), 6, 3, 2), ((9, 4), 16, 2, 4)],
)
def test_each_epoch_covers_every_row_once(rows, global_batch, workers, accum) -> None:
    plan = StepPlan(rows, global_batch, workers, accum, seed=3)
    for epoch in (0, 1):
        seen = Counter()
        for step in range(epoch * plan.steps_per_epoch, (epoch + 1) * plan.steps_per_epoch):
            slots = [plan.micro_batches(step, r) for r in range(workers)]
            assert all(len(s) == accum for s in slots)
            sizes = [len(m) for s in slots for m in s]
            assert max(sizes) - min(sizes) <= 1
            seen.update(ref for s in slots for m in s for ref in m)
        assert set(seen.values()) == {1}
        assert len(seen) == sum(rows)


def test_plan_is_deterministic_and_epochs_differ() -> None:
    plan = StepPlan((10, 10), 4, 2, 1, seed=0)
    assert plan.steps_per_epoch == 5
    assert plan.epoch_order(0) == StepPlan((10, 10), 4, 2, 1, seed=0).epoch_order(0)
    assert plan.epoch_order(0) != plan.epoch_order(1)
    assert plan.global_batch_rows(5) == list(plan.epoch_order(1)[:4])
    assert plan.micro_batches(0, 1) == [list(plan.epoch_order(0)[1:4:2])]


def test_source_replays_from_a_step_with_fillers(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "d", n=5, seed=0, shards=2)
    manifest = open_dataset(str(root))
    plan = StepPlan((3, 2), 4, 2, 1, seed=0)
    rows = ShardRows(str(root), manifest)
    source = MicroBatchSource(rows, plan, rank=1, start_step=1, end_step=2, collate=lambda s: [r["id"] for r in s])
    # step 1 holds 1 row: rank 0 gets it, rank 1 a zero-weight filler of that same row
    (batch, n_real), = list(micro_batch_loader(source, loader_workers=1))
    assert n_real == 0
    assert batch == [rows.rows(plan.global_batch_rows(1))[0]["id"]]
    all_ids = [r["id"] for s in range(2) for r in rows.rows(plan.global_batch_rows(s))]
    assert sorted(all_ids) == ["s0", "s1", "s2", "s3", "s4"]


def test_empty_dataset_names_the_manifest(tmp_path: Path) -> None:
    from vrt.data.manifest import Manifest, write_manifest

    write_manifest(str(tmp_path), Manifest("vrt-80k", "x", {"input": 0, "written": 0, "quarantined": 0}, {}, []))
    with pytest.raises(UserError, match=rf"{tmp_path}/manifest.json lists no rows"):
        open_dataset(str(tmp_path))


def test_schema_mismatch_names_the_manifest(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "d", n=2, seed=0, shards=1)
    shard = root / "shard-00000.parquet"
    table = pq.read_table(shard).drop_columns(["question"])
    buf = io.BytesIO()
    pq.write_table(table, buf)
    shard.write_bytes(buf.getvalue())
    with pytest.raises(UserError, match=r"manifest.json: shard shard-00000.parquet does not have the canonical "
                                        r"schema v1 \(missing columns \['question'\]"):
        open_dataset(str(root))


def test_missing_dataset_says_it_is_not_published(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is not a published dataset"):
        open_dataset(str(tmp_path / "nowhere"))
    assert json.loads((write_dataset(tmp_path / "ok", 2, shards=1) / "manifest.json").read_text())["counts"] == {
        "input": 2, "written": 2, "quarantined": 0}


def test_latest_checkpoint_skips_incomplete_ones(tmp_path: Path) -> None:
    from components.sft.checkpoint import find_latest, latest_in_run, resolve_resume

    def make(run: str, step: int, ranks: list[int], world: int = 2) -> None:
        d = tmp_path / run / f"step_{step:07d}"
        d.mkdir(parents=True)
        (d / "state.json").write_text(json.dumps({"step": step, "world": world}))
        for r in ranks:
            (d / f"rng_rank{r}.safetensors").write_bytes(b"x")

    assert find_latest(str(tmp_path)) == "" and resolve_resume("latest", str(tmp_path)) == ""
    make("a", 2, [0, 1])
    make("a", 4, [0])  # rank 1 never finished uploading
    make("b", 3, [0, 1])
    assert find_latest(str(tmp_path)) == str(tmp_path / "b" / "step_0000003")
    assert latest_in_run(str(tmp_path / "a")) == str(tmp_path / "a" / "step_0000002")
    assert resolve_resume(str(tmp_path / "a" / "step_0000002"), str(tmp_path)) == str(tmp_path / "a" / "step_0000002")
    with pytest.raises(UserError, match="is not a checkpoint"):
        resolve_resume(str(tmp_path / "a"), str(tmp_path))
