"""Streaming input from remote sources (s3:// on a counting moto server, hf:// on a loopback Hub stand-in):
files are fetched one by one as conversion reaches them, local disk stays within one input file plus one
image, shards are byte-identical to converting the same files locally, and the raw cache is kept."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.data.hf_server import HubServer
from tests.sft.counting_s3 import CountingS3
from vrt import storage
from vrt.data import fetch, remote
from vrt.data.prepare import PrepareConfig, prepare
from vrt.data.synth import synthesize
from vrt.errors import UserError


def _shards(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "shards").iterdir())}


def _du(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """vgr in two annotation files (a JSON list and a JSONL), reasonseg in three Parquet files."""
    out = tmp_path_factory.mktemp("raw-remote")
    synthesize(out, 24, 12, 7, 64)  # vgr: 12 records
    records = json.loads((out / "vgr" / "vgr_sft.json").read_text())
    (out / "vgr" / "vgr_sft.json").unlink()
    (out / "vgr" / "a.json").write_text(json.dumps(records[:7]))
    bad = [records[0] | {"id": "gone", "image": "coco/train2017/none.jpg"}, records[0] | {"id": "out", "image": "../x.jpg"}]
    (out / "vgr" / "b.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[7:] + bad))
    table = pq.read_table(next((out / "reasonseg").rglob("*.parquet")))
    for p in (out / "reasonseg").rglob("*.parquet"):
        p.unlink()
    for k in range(3):
        pq.write_table(table.slice(k * 4, 4), out / "reasonseg" / "data" / f"test-{k:05d}-of-00003.parquet")
    return out


@pytest.fixture
def staging(tmp_path, monkeypatch) -> tuple[Path, list[int]]:
    """All temporary files go under one folder; its size is recorded after every file lands there."""
    folder = tmp_path / "staging"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    sizes: list[int] = []
    real_get, real_hf = fetch._get, remote.HfRemote.download

    def get(uri, dest):
        real_get(uri, dest)
        sizes.append(_du(folder))

    def hf(self, name, dest):
        real_hf(self, name, dest)
        sizes.append(_du(folder))

    monkeypatch.setattr(fetch, "_get", get)
    monkeypatch.setattr(remote.HfRemote, "download", hf)
    return folder, sizes


def _bound(src: Path, inputs: list[str], images: str | None) -> int:
    """One input file (the largest) plus one image (the largest) when records name images."""
    largest = max((src / n).stat().st_size for n in inputs)
    return largest + (max(p.stat().st_size for p in src.rglob(images)) if images else 0)


@pytest.mark.parametrize(("source", "inputs", "images"), [
    ("vgr", ["a.json", "b.jsonl"], "*.jpg"),
    ("reasonseg", [f"data/test-{k:05d}-of-00003.parquet" for k in range(3)], None),
])
def test_s3_source_streams_file_by_file(raw, tmp_path, staging, source, inputs, images):
    folder, sizes = staging
    src = raw / source
    ref = prepare(PrepareConfig(source, str(src), str(tmp_path / "local"), shard_size=5, row_group_size=2))
    with CountingS3() as s3:
        storage.s3_client().create_bucket(Bucket="raw")
        storage.upload_dir(src, f"s3://raw/{source}")
        s3.reset()
        cfg = PrepareConfig(source, f"s3://raw/{source}", str(tmp_path / "remote"), shard_size=5, row_group_size=2,
                            cache_uri="s3://raw/cache", workers=1)
        m = prepare(cfg)
        raw_gets = {k: n for k, n in s3.gets.items() if k.startswith(f"/raw/{source}/")}
        s3.reset()
        again = prepare(PrepareConfig(source, cfg.from_uri, str(tmp_path / "again"), shard_size=5, row_group_size=2,
                                      cache_uri=cfg.cache_uri, workers=2 if images else 1))
        regets = [k for k in s3.gets if k.startswith(f"/raw/{source}/")]
    assert _shards(tmp_path / "remote") == _shards(tmp_path / "local") == _shards(tmp_path / "again")
    assert m.counts == ref.counts == again.counts and m.counts["written"] > 0
    assert m.quarantine_reasons == ref.quarantine_reasons == (
        {"bad_image_path": 1, "missing_image": 1} if source == "vgr" else {})
    used = [n for n in inputs] + ([json.loads(r)["image"] for r in pq.read_table(
        tmp_path / "local" / ref.shards[0].path, columns=["extra"]).column("extra").to_pylist()] if images else [])
    assert set(raw_gets) >= {f"/raw/{source}/{n}" for n in used} and set(raw_gets.values()) == {1}
    assert regets == []  # the second run reads the cache only
    dataset = _du(src)
    assert max(sizes) <= _bound(src, inputs, images) < dataset  # never the dataset, one file (+ one image)
    assert max(sizes) >= min((src / n).stat().st_size for n in inputs)  # the hook saw the input files
    assert _du(folder) == 0  # nothing left behind


def test_hf_source_streams_file_by_file_through_the_cache(raw, tmp_path, staging):
    folder, sizes = staging
    for source, inputs, images in [("vgr", ["a.json", "b.jsonl"], "*.jpg"),
                                   ("vrt-80k", ["ver_training_00000.tfrecord"], None)]:
        src = raw / source
        ref = prepare(PrepareConfig(source, str(src), str(tmp_path / f"{source}-local"), shard_size=5))
        with HubServer(src, f"owner/{source}", "c0ffee") as hub:
            uri, cache = f"hf://datasets/owner/{source}", str(tmp_path / "cache")
            m = prepare(PrepareConfig(source, uri, str(tmp_path / f"{source}-hf"), revision="c0ffee", shard_size=5,
                                      cache_uri=cache, workers=2 if images else 1))  # images: read in workers
            first = dict(hub.downloads)
            hub.downloads.clear()
            again = prepare(PrepareConfig(source, uri, str(tmp_path / f"{source}-again"), revision="c0ffee",
                                          shard_size=5, cache_uri=cache, workers=1))
            assert dict(hub.downloads) == {}  # all from the cache
            if source == "vgr":  # a damaged cached image is fetched again, not converted
                image = "coco/train2017/000000000001.jpg"
                blob = Path(cache, "blobs", fetch.file_sha256(src / image))
                blob.write_bytes(blob.read_bytes()[:100])
                fixed = prepare(PrepareConfig(source, uri, str(tmp_path / "fixed"), revision="c0ffee", shard_size=5,
                                              cache_uri=cache, workers=1))
                assert fixed.shards == again.shards and dict(hub.downloads) == {image: 1}
                assert fetch.file_sha256(blob) == fetch.file_sha256(src / image)
            with pytest.raises(UserError, match="cannot read hf://datasets/owner/.* at beef .*404"):
                prepare(PrepareConfig(source, uri, str(tmp_path / "x"), revision="beef", cache_uri=cache))
        assert _shards(tmp_path / f"{source}-hf") == _shards(tmp_path / f"{source}-local")
        assert _shards(tmp_path / f"{source}-again") == _shards(tmp_path / f"{source}-local")
        assert m.counts == ref.counts == again.counts and m.revision == "c0ffee"
        assert set(inputs) <= set(first) and set(first.values()) == {1}  # each file downloaded once
        assert not any(n.endswith(".jpg") for n in first) or source == "vgr"
    assert 0 < max(sizes) <= max(_bound(raw / "vgr", ["a.json", "b.jsonl"], "*.jpg"),
                                 _bound(raw / "vrt-80k", ["ver_training_00000.tfrecord"], None))
    assert os.listdir(folder) == []


def test_hf_uri_needs_a_pinned_revision_and_a_dataset_name(tmp_path):
    with pytest.raises(UserError, match="needs --revision"):
        prepare(PrepareConfig("vgr", "hf://datasets/a/b", str(tmp_path / "o")))
    with pytest.raises(UserError, match="write hf://datasets/OWNER/NAME"):
        prepare(PrepareConfig("vgr", "hf://models/a/b", str(tmp_path / "o"), revision="x"))
