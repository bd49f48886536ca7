"""SFT ingest: every row exactly once per epoch across workers, deterministic plans, bad datasets."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from components.sft.ingest import MicroBatchSource, RowSource, StepPlan, micro_batch_loader, open_dataset
from tests.sft.canonical import write_dataset
from vrt.errors import UserError


@pytest.mark.parametrize(
    ("rows", "groups", "global_batch", "workers", "accum", "loaders"),
    [((50, 50), (), 8, 2, 2, 1), ((7, 3, 1), ((3, 3, 1), (3,), (1,)), 4, 2, 1, 2), ((5,), (), 6, 3, 2, 1),
     ((9, 4), ((4, 4, 1), (2, 2)), 16, 2, 4, 3), ((40, 24), ((16, 16, 8), (16, 8)), 12, 2, 2, 2)],
)
def test_each_epoch_covers_every_row_once(rows, groups, global_batch, workers, accum, loaders) -> None:
    plan = StepPlan(rows, global_batch, workers, accum, seed=3, row_groups=groups, loaders=loaders)
    for epoch in (0, 1):
        seen = Counter()
        for step in range(epoch * plan.steps_per_epoch, (epoch + 1) * plan.steps_per_epoch):
            slots = [plan.micro_batches(step, r) for r in range(workers)]
            assert all(len(s) == accum for s in slots)
            sizes = [len(m) for s in slots for m in s]
            assert max(sizes) - min(sizes) <= 1
            last = step == (epoch + 1) * plan.steps_per_epoch - 1
            assert sum(sizes) == (sum(rows) - (plan.steps_per_epoch - 1) * global_batch if last else global_batch)
            seen.update(ref for s in slots for m in s for ref in m)
        assert set(seen.values()) == {1}
        assert len(seen) == sum(rows)


def test_each_loader_reads_only_its_own_row_groups() -> None:
    """8 row groups of 16 rows, 2 workers x 2 loaders: a row group is read by one loader, or two at a cut."""
    groups = ((16, 16, 16, 16), (16, 16, 16, 16))
    plan = StepPlan((64, 64), 8, 2, 2, seed=1, row_groups=groups, loaders=2)
    for epoch in (0, 1):
        readers: dict[tuple[int, int], set] = {}
        for step in range(epoch * plan.steps_per_epoch, (epoch + 1) * plan.steps_per_epoch):
            for rank in range(2):
                for micro, refs in enumerate(plan.micro_batches(step, rank)):
                    loader = ((step - epoch * plan.steps_per_epoch) * 2 + micro) % 2
                    for shard, row in refs:
                        readers.setdefault((shard, row // 16), set()).add((rank, loader))
        assert len(readers) == 8
        assert sum(len(r) for r in readers.values()) <= 8 + 3  # at most one shared group per cut


def test_plan_is_deterministic_and_epochs_differ() -> None:
    plan = StepPlan((10, 10), 4, 2, 1, seed=0, row_groups=((5, 5), (5, 5)))
    again = StepPlan((10, 10), 4, 2, 1, seed=0, row_groups=((5, 5), (5, 5)))
    assert plan.steps_per_epoch == 5
    layout = [plan.micro_batches(s, r) for s in range(10) for r in range(2)]
    assert layout == [again.micro_batches(s, r) for s in range(10) for r in range(2)]
    assert [plan.global_batch_rows(s) for s in range(5)] != [plan.global_batch_rows(s) for s in range(5, 10)]
    assert plan.global_batch_rows(5) == plan.micro_batches(5, 0)[0] + plan.micro_batches(5, 1)[0]
    assert len(plan.micro_batches(0, 1)[0]) == 2
    with pytest.raises(ValueError, match="row_groups do not add up"):
        StepPlan((10,), 4, 2, 1, seed=0, row_groups=((5, 4),))


def test_source_replays_from_a_step_with_fillers(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "d", n=5, seed=0, shards=2)
    manifest = open_dataset(str(root))
    rows = RowSource(str(root), manifest)
    plan = StepPlan.for_dataset(rows, 4, 2, 1, seed=0)
    assert plan.row_groups == ((3,), (2,))
    source = MicroBatchSource(rows, plan, rank=1, start_step=1, end_step=2, collate=lambda s: [r["id"] for r in s])
    # step 1 holds 1 row: rank 0 gets it, rank 1 a zero-weight filler: the last row its loader read
    (batch, n_real), = list(micro_batch_loader(source, loader_workers=1))
    assert n_real == 0
    assert plan.filler(1, 1, 0) == plan.micro_batches(0, 1)[0][-1]
    assert batch == [rows.rows([plan.filler(1, 1, 0)])[0]["id"]]
    all_ids = [r["id"] for s in range(2) for r in rows.rows(plan.global_batch_rows(s))]
    assert sorted(all_ids) == ["s0", "s1", "s2", "s3", "s4"]


def test_two_loader_processes_yield_the_in_thread_sequence(tmp_path: Path) -> None:
    root = write_dataset(tmp_path / "d", n=9, seed=1, shards=3)
    rows = RowSource(str(root), open_dataset(str(root)))
    plan = StepPlan.for_dataset(rows, 4, 2, 2, seed=5, loaders=2)
    ids = lambda s: [r["id"] for r in s]
    for start in (0, 1):
        source = MicroBatchSource(rows, plan, rank=0, start_step=start, end_step=5, collate=ids)
        in_thread = list(micro_batch_loader(source, loader_workers=0))
        assert list(micro_batch_loader(source, loader_workers=2)) == in_thread
        assert len(in_thread) == (5 - start) * 2
    with pytest.raises(ValueError, match="made for 2 loader processes, not 3"):
        micro_batch_loader(source, loader_workers=3)


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


def _noisy_dataset(root: Path, n: int, shards: int, row_group_size: int) -> None:
    """`n` canonical rows whose images are incompressible 192x192 JPEGs, in streaming row-group shards."""
    import numpy as np
    from PIL import Image

    from tests.sft.canonical import _row
    from vrt.data.manifest import Manifest, Shard, write_manifest
    from vrt.data.writer import ShardWriter

    rng = np.random.default_rng(0)
    (root / "shards").mkdir(parents=True)
    entries = []
    for k in range(shards):
        path = root / "shards" / f"part-{k:05d}.parquet"
        with ShardWriter(path, row_group_size) as writer:
            for i in range(k * n // shards, (k + 1) * n // shards):
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 255, (192, 192, 3), np.uint8)).save(buf, "JPEG", quality=90)
                writer.add(_row(i, rng, 64) | {"image": buf.getvalue(), "width": 192, "height": 192})
        entries.append(Shard(path=f"shards/{path.name}", **writer.info))
    write_manifest(str(root), Manifest("vrt-80k", "t", {"input": n, "written": n, "quarantined": 0}, {}, entries))


def test_two_ranks_two_loaders_read_each_byte_about_once_from_s3(tmp_path: Path) -> None:
    from tests.sft.counting_s3 import CountingS3
    from vrt import storage

    _noisy_dataset(tmp_path / "d", n=256, shards=2, row_group_size=8)
    with CountingS3() as s3:
        import boto3

        boto3.client("s3").create_bucket(Bucket="ingest")
        storage.upload_dir(tmp_path / "d", "s3://ingest/d")
        s3.reset()
        manifest = open_dataset("s3://ingest/d")
        # the schema check reads the manifest and one shard's footer (one ranged read placed by the manifest)
        assert s3.gets == {"/ingest/d/manifest.json": 1, "/ingest/d/shards/part-00000.parquet": 1}
        assert s3.get_bytes < 64 * 1024
        dataset_bytes = sum(s.bytes for s in manifest.shards)
        s3.reset()
        ids = []
        for rank in (0, 1):
            rows = RowSource("s3://ingest/d", manifest)
            plan = StepPlan.for_dataset(rows, 16, 2, 2, seed=0, loaders=2)
            source = MicroBatchSource(rows, plan, rank, 0, plan.steps_per_epoch,
                                      lambda s: [r["id"] for r in s])
            ids += [i for batch, n_real in micro_batch_loader(source, loader_workers=2) for i in batch[:n_real]]
        assert sorted(ids) == sorted(f"s{i}" for i in range(256))
        ratio = s3.get_bytes / dataset_bytes
        assert ratio <= 1.2, f"read {s3.get_bytes} bytes for a {dataset_bytes}-byte dataset ({ratio:.2f}x)"
        # 32 row groups, at most one more per cut between the 4 (rank, loader) parts, 1 footer read per
        # shard per loader process
        assert sum(s3.gets.values()) <= 32 + 3 + 2 * 4, s3.gets
