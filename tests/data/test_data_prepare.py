"""`prepare`: resume after a failure, publish-last, re-runs, s3:// source/destination and the raw cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vrt import storage
from vrt.data import convert
from vrt.data.manifest import MANIFEST
from vrt.data.prepare import PrepareConfig, prepare
from vrt.data.reader import read_table
from vrt.data.synth import synthesize, synthesize_to
from vrt.errors import UserError

REAL_WRITE_SHARD = convert.write_shard


class ShardSpy:
    """Wraps `convert.write_shard` (in-process runs, workers=1): records the chunk indices written,
    raises on `fail_at`."""

    def __init__(self, fail_at: int | None = None):
        self.calls: list[int] = []
        self.fail_at = fail_at

    def __call__(self, out: str, index: int, rows, row_group_size: int):
        if index == self.fail_at:
            raise RuntimeError(f"injected failure on shard {index}")
        self.calls.append(index)
        return REAL_WRITE_SHARD(out, index, rows, row_group_size)


def test_resume_after_injected_failure(raw_dir, tmp_path, monkeypatch):
    out = tmp_path / "ds"
    cfg = PrepareConfig("vrt-80k", str(raw_dir / "vrt-80k"), str(out), shard_size=8, workers=1)
    spy = ShardSpy(fail_at=2)
    monkeypatch.setattr(convert, "write_shard", spy)
    with pytest.raises(RuntimeError, match="injected failure on shard 2"):
        prepare(cfg)
    assert spy.calls == [0, 1]
    assert not (out / MANIFEST).exists()
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    with pytest.raises(UserError, match="not a published dataset"):
        read_table(str(out))
    before = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}

    spy = ShardSpy()
    monkeypatch.setattr(convert, "write_shard", spy)
    m = prepare(cfg)
    assert spy.calls == [2, 3]
    assert m.counts == {"input": 30, "written": 30, "quarantined": 0}
    assert {n: (out / "shards" / n).stat().st_mtime_ns for n in before} == before
    assert read_table(str(out))[1].num_rows == 30

    spy = ShardSpy()
    monkeypatch.setattr(convert, "write_shard", spy)
    assert prepare(cfg) == m
    assert spy.calls == []


def test_new_input_unpublishes_then_replaces(raw_dir, tmp_path, monkeypatch):
    out = tmp_path / "ds"
    prepare(PrepareConfig("vrt-80k", str(raw_dir / "vrt-80k"), str(out), shard_size=8))
    other = tmp_path / "raw2"
    synthesize(other, 12, 1, 99, 48)
    cfg = PrepareConfig("vrt-80k", str(other / "vrt-80k"), str(out), shard_size=8, workers=1)
    monkeypatch.setattr(convert, "write_shard", ShardSpy(fail_at=1))
    with pytest.raises(RuntimeError):
        prepare(cfg)
    assert not (out / MANIFEST).exists()
    monkeypatch.undo()
    m = prepare(cfg)
    assert m.counts["input"] == 12
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    assert sorted(p.name for p in (out / "_work").iterdir()) == [
        "chunk-00000.json",
        "chunk-00001.json",
        "plan.json",
    ]


def test_s3_source_and_destination_with_raw_cache(s3_bucket, tmp_path):
    synthesize_to(f"{s3_bucket}/raw", 30, 12, 7, 64)
    cfg = PrepareConfig(
        "vrt-bench", f"{s3_bucket}/raw/vrt-bench", f"{s3_bucket}/ds/bench", revision="r1", shard_size=5
    )
    m = prepare(cfg)
    assert m.counts == {"input": 12, "written": 12, "quarantined": 0}
    assert m.revision == "r1"
    assert [s.rows for s in m.shards] == [5, 5, 2]
    manifest, table = read_table(f"{s3_bucket}/ds/bench")
    assert manifest == m and table.num_rows == 12
    cache = f"{s3_bucket}/ds/raw-cache"
    names = storage.list_names(cache)
    # streamed: only the input object is cached (not the .index beside it), with its record offsets
    assert len([n for n in names if n.startswith("blobs/")]) == 1
    assert len([n for n in names if n.startswith("scans/")]) == 1
    refs = [json.loads(storage.read_bytes(f"{cache}/{n}")) for n in names if n.startswith("refs/")]
    assert len(refs) == 2  # one for the object, one for the (URI, revision) snapshot
    snapshot = next(r for r in refs if "files" in r)
    assert sorted(snapshot["files"]) == ["vrt_eval.tfrecord"] and snapshot["revision"] == "r1"

    for name in storage.list_names(f"{s3_bucket}/raw/vrt-bench"):
        storage.delete(f"{s3_bucket}/raw/vrt-bench/{name}")
    again = prepare(
        PrepareConfig("vrt-bench", cfg.from_uri, f"{s3_bucket}/ds/bench2", revision="r1", shard_size=5)
    )
    assert again.counts == m.counts and [s.sha256 for s in again.shards] == [s.sha256 for s in m.shards]
    with pytest.raises(UserError, match="nothing under"):
        prepare(PrepareConfig("vrt-bench", cfg.from_uri, f"{s3_bucket}/ds/bench3", revision="r2"))


def test_s3_objects_fetched_once_then_only_when_changed(s3_bucket, tmp_path, monkeypatch):
    from vrt.data import fetch

    synthesize_to(f"{s3_bucket}/raw", 10, 3, 1, 48)
    fetched: list[str] = []
    real_get = fetch._get
    monkeypatch.setattr(fetch, "_get", lambda uri, dest: (fetched.append(uri), real_get(uri, dest))[1])
    src, cache = f"{s3_bucket}/raw/vrt-bench", f"{s3_bucket}/cache"
    prepare(PrepareConfig("vrt-bench", src, str(tmp_path / "a"), cache_uri=cache))
    assert fetched == [f"{src}/vrt_eval.tfrecord"]  # the input only, once
    fetched.clear()
    prepare(PrepareConfig("vrt-bench", src, str(tmp_path / "b"), cache_uri=cache))
    assert fetched == []  # workers read the cached blob by range; its offsets are cached too
    storage.write_bytes(f"{src}/vrt_eval.index", b"0 1\n")  # not an input: changes nothing
    prepare(PrepareConfig("vrt-bench", src, str(tmp_path / "b2"), cache_uri=cache))
    assert fetched == []
    synthesize_to(f"{s3_bucket}/raw2", 10, 2, 2, 48)
    storage.write_bytes(f"{src}/vrt_eval.tfrecord", storage.read_bytes(f"{s3_bucket}/raw2/vrt-bench/vrt_eval.tfrecord"))
    m = prepare(PrepareConfig("vrt-bench", src, str(tmp_path / "c"), cache_uri=cache))
    assert fetched == [f"{src}/vrt_eval.tfrecord"]
    assert m.counts == {"input": 2, "written": 2, "quarantined": 0}


def test_s3_source_streams_one_object_at_a_time(s3_bucket, tmp_path):
    """A multi-file source on S3 with the cache on S3: the only local disk used is one object at a time."""
    from vrt.data import stream, tfrecord

    synthesize(tmp_path / "raw", 40, 1, 5, 48)
    src = tmp_path / "raw" / "vrt-80k"
    with open(src / "ver_training_00000.tfrecord", "rb") as f:
        records = list(tfrecord.iter_records(f))
    for k in range(3):  # three input objects of 14, 13 and 13 records
        with open(src / f"ver_training_{k:05d}.tfrecord", "wb") as f:
            tfrecord.write_records(f, records[k * 40 // 3 : (k + 1) * 40 // 3])
    local = sorted(src.glob("ver_training_*.tfrecord"))
    storage.upload_dir(tmp_path / "raw" / "vrt-80k", f"{s3_bucket}/raw")
    peaks = []
    real = stream.RemoteInputs.files

    def spy(self):
        yield from real(self)
        peaks.append(self.peak_disk)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(stream.RemoteInputs, "files", spy)
        m = prepare(PrepareConfig("vrt-80k", f"{s3_bucket}/raw", f"{s3_bucket}/ds", shard_size=7, workers=2))
    assert peaks == [max(p.stat().st_size for p in local)]
    ref = prepare(PrepareConfig("vrt-80k", str(tmp_path / "raw" / "vrt-80k"), str(tmp_path / "ref"), shard_size=7))
    assert [s.sha256 for s in m.shards] == [s.sha256 for s in ref.shards]
    assert m.counts == ref.counts == {"input": 40, "written": 40, "quarantined": 0}


def test_s3_missing_bucket_is_a_user_error(s3_endpoint, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        prepare(PrepareConfig("vgr", "s3://no-such-bucket-xyz/raw", str(tmp_path / "x")))


@pytest.mark.parametrize(
    ("source", "make", "message"),
    [
        ("vrt-80k", lambda p: p.mkdir(), "no ver_training_\\*.tfrecord file under"),
        (
            "reasonseg",
            lambda p: (p.mkdir(), (p / "t.parquet").write_text("nope")),
            "is not a readable Parquet file",
        ),
        ("vgr", lambda p: (p.mkdir(), (p / "v.json").write_text("{")), "is not valid JSON"),
        ("vrt-bench", lambda p: None, "does not exist"),
    ],
)
def test_unreadable_sources_name_the_file(tmp_path, source, make, message):
    raw = tmp_path / "raw"
    make(raw)
    with pytest.raises(UserError, match=message):
        prepare(PrepareConfig(source, str(raw), str(tmp_path / "out")))


def test_config_validation():
    with pytest.raises(ValueError, match="source must be one of"):
        PrepareConfig("coco", "a", "b")
    with pytest.raises(ValueError, match="shard_size must be >= 1"):
        PrepareConfig("vgr", "a", "b", shard_size=0)
    with pytest.raises(ValueError, match="from_uri is empty"):
        PrepareConfig("vgr", "", "b")


def test_default_cache_location():
    from vrt.data.fetch import default_cache

    assert default_cache("s3://b/datasets/x") == "s3://b/datasets/raw-cache"
    assert default_cache("s3://b/x") == "s3://b/raw-cache"
    assert default_cache("/data/sets/x") == str(Path("/data/sets/raw-cache"))
