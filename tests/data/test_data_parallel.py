"""Parallel conversion: byte-identical to serial, exact resume after kill -9, shards verified on resume,
duplicate ids, empty inputs, streaming row groups, and the Ray executor."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from vrt.data.manifest import MANIFEST, read_manifest
from vrt.data.prepare import PrepareConfig, prepare
from vrt.data.reader import read_table
from vrt.data.synth import synthesize
from vrt.errors import UserError


def _files(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "shards").iterdir())}


@pytest.fixture(scope="module")
def raw_many(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("raw-many")
    synthesize(out, 200, 2, 11, 48)
    return out


def test_parallel_shards_are_byte_identical_to_serial(raw_dir, tmp_path):
    kw = {"shard_size": 7, "row_group_size": 3}
    serial = prepare(PrepareConfig("vrt-80k", str(raw_dir / "vrt-80k"), str(tmp_path / "s"), workers=1, **kw))
    parallel = prepare(PrepareConfig("vrt-80k", str(raw_dir / "vrt-80k"), str(tmp_path / "p"), workers=2, **kw))
    assert _files(tmp_path / "s") == _files(tmp_path / "p")
    assert [s.sha256 for s in serial.shards] == [s.sha256 for s in parallel.shards]
    assert serial.counts == parallel.counts == {"input": 30, "written": 30, "quarantined": 0}
    shard = serial.shards[0]
    assert [g["rows"] for g in shard.row_groups] == [3, 3, 1]
    meta = pq.read_metadata(tmp_path / "s" / shard.path)
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [3, 3, 1]
    columns = {meta.row_group(0).column(c).path_in_schema: meta.row_group(0).column(c).compression
               for c in range(meta.row_group(0).num_columns)}
    assert columns["image"] == "UNCOMPRESSED" and columns["question"] == "SNAPPY"
    assert columns["objects.list.element.rle"] == "SNAPPY"


def test_kill_9_mid_run_then_resume_gives_the_same_manifest(raw_many, tmp_path):
    src = str(raw_many / "vrt-80k")
    reference = prepare(PrepareConfig("vrt-80k", src, str(tmp_path / "ref"), shard_size=2, workers=1))
    out = tmp_path / "killed"
    code = (f"from vrt.data.prepare import PrepareConfig, prepare\n"
            f"prepare(PrepareConfig('vrt-80k', {src!r}, {str(out)!r}, shard_size=2, workers=2))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((out / "_work").glob("chunk-*.json"))) < 5:
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)  # the launcher and its pool workers, mid-write or not
    proc.wait()
    done = len(list((out / "_work").glob("chunk-*.json")))
    assert 5 <= done < 100 and not (out / MANIFEST).exists()
    resumed = prepare(PrepareConfig("vrt-80k", src, str(out), shard_size=2, workers=2))
    assert resumed.to_json().replace(str(out), "X") == reference.to_json().replace(str(tmp_path / "ref"), "X")
    assert _files(out) == _files(tmp_path / "ref")


def test_workers_do_not_outlive_a_killed_launcher(raw_many, tmp_path):
    import psutil

    code = (f"from vrt.data.prepare import PrepareConfig, prepare\n"
            f"prepare(PrepareConfig('vrt-80k', {str(raw_many / 'vrt-80k')!r}, {str(tmp_path / 'd')!r}, shard_size=2, "
            f"workers=2))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    launcher = psutil.Process(proc.pid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((tmp_path / "d" / "_work").glob("chunk-*.json")):
        time.sleep(0.005)
    workers = launcher.children(recursive=True)
    assert workers
    proc.kill()  # the launcher alone
    proc.wait()
    _gone, alive = psutil.wait_procs(workers, timeout=20)
    assert alive == []


def test_resume_redoes_a_shard_that_changed_since_its_marker(raw_dir, tmp_path):
    cfg = PrepareConfig("vrt-80k", str(raw_dir / "vrt-80k"), str(tmp_path / "d"), shard_size=8, workers=1)
    first = prepare(cfg)
    (tmp_path / "d" / MANIFEST).unlink()  # as if the run had stopped before publishing
    shards = tmp_path / "d" / "shards"
    (shards / "part-00000.parquet").unlink()
    data = (shards / "part-00001.parquet").read_bytes()
    (shards / "part-00001.parquet").write_bytes(data[:-100])
    flipped = bytearray((shards / "part-00002.parquet").read_bytes())
    flipped[200] ^= 0xFF
    (shards / "part-00002.parquet").write_bytes(bytes(flipped))
    kept = (shards / "part-00003.parquet").stat().st_mtime_ns
    again = prepare(cfg)
    assert again == first
    assert (shards / "part-00003.parquet").stat().st_mtime_ns == kept
    assert read_table(str(tmp_path / "d"))[1].num_rows == 30  # every shard matches its sha256 again


def test_duplicate_ids_are_quarantined_after_the_first(tmp_path):
    from vrt.data import tfrecord

    raw = tmp_path / "raw"
    synthesize(raw, 6, 1, 3, 32)
    path = raw / "vrt-80k" / "ver_training_00000.tfrecord"
    records = [r for r in tfrecord.iter_records(open(path, "rb"))]  # noqa: SIM115
    with open(path, "wb") as f:  # record 1 again after record 4, record 0 three times in all
        tfrecord.write_records(f, [*records[:5], records[1], records[0], records[5], records[0]])
    m = prepare(PrepareConfig("vrt-80k", str(raw / "vrt-80k"), str(tmp_path / "d"), shard_size=3, workers=2))
    assert m.counts == {"input": 9, "written": 6, "quarantined": 3}
    assert m.quarantine_reasons == {"duplicate_id": 3}
    ids = read_table(str(tmp_path / "d"))[1].column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 6
    lines = [json.loads(x) for x in (tmp_path / "d" / "quarantine.jsonl").read_text().splitlines()]
    assert [q["reason"] for q in lines] == ["duplicate_id"] * 3
    assert all("already written by an earlier record" in q["detail"] for q in lines)


def test_input_without_records_is_a_user_error_and_publishes_nothing(tmp_path):
    src = tmp_path / "raw" / "vrt-80k"
    src.mkdir(parents=True)
    (src / "ver_training_00000.tfrecord").write_bytes(b"")
    with pytest.raises(UserError, match=r"^no records in .*vrt-80k: the input files are empty"):
        prepare(PrepareConfig("vrt-80k", str(src), str(tmp_path / "d")))
    with pytest.raises(UserError, match="not a published dataset"):
        read_manifest(str(tmp_path / "d"))


def test_config_rejects_bad_parallel_settings():
    with pytest.raises(ValueError, match="row_group_size must be >= 1"):
        PrepareConfig("vrt-80k", "a", "b", row_group_size=0)
    with pytest.raises(ValueError, match="workers must be >= 0"):
        PrepareConfig("vrt-80k", "a", "b", workers=-1)
    with pytest.raises(ValueError, match="executor must be one of local, ray"):
        PrepareConfig("vrt-80k", "a", "b", executor="dask")


@pytest.mark.slow
def test_ray_executor_gives_the_same_shards(raw_dir, tmp_path):
    import ray

    kw = {"shard_size": 8, "row_group_size": 4}
    serial = prepare(PrepareConfig("vrt-80k", str(raw_dir / "vrt-80k"), str(tmp_path / "s"), workers=1, **kw))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        on_ray = prepare(PrepareConfig("vrt-80k", str(raw_dir / "vrt-80k"), str(tmp_path / "r"), workers=2,
                                       executor="ray", **kw))
    finally:
        ray.shutdown()
    assert _files(tmp_path / "s") == _files(tmp_path / "r")
    assert on_ray.counts == serial.counts


@pytest.mark.parametrize("damage", ["none", "data_crc", "length_crc", "cut_body", "cut_header"])
def test_span_scan_frames_records_like_the_reader(tmp_path, damage):
    """Chunk spans come from a header scan: it must stop exactly where `iter_records` stops."""
    import struct

    from vrt.data import tfrecord
    from vrt.data.chunks import Chunk, Span, iter_chunk, scan_tfrecord

    data = bytearray(b"".join(tfrecord.frame(bytes([i]) * (10 + i)) for i in range(6)))
    second = 16 + 10  # offset of record 1
    if damage == "data_crc":
        data[second + 12] ^= 0xFF
    elif damage == "length_crc":
        data[second + 8] ^= 0xFF
    elif damage == "cut_body":
        data = data[: len(data) - 5]
    elif damage == "cut_header":
        data = data + struct.pack("<Q", 3)
    path = tmp_path / "x.tfrecord"
    path.write_bytes(bytes(data))
    with open(path, "rb") as f:
        items = list(tfrecord.iter_records(f))
    offsets = scan_tfrecord(path)
    assert len(offsets) == len(items)
    errors = [i.offset for i in items if isinstance(i, tfrecord.RecordError)]
    assert all(e in offsets for e in errors)
    # any split of the file into spans reads the same records, keys and error offsets as one read
    whole = list(iter_chunk(Chunk(0, len(offsets), spans=(Span("x", str(path), 0, 0, len(offsets)),))))
    for cut in range(1, len(offsets)):
        spans = (Span("x", str(path), 0, 0, cut), Span("x", str(path), offsets[cut], cut, len(offsets) - cut))
        assert list(iter_chunk(Chunk(0, len(offsets), spans=spans))) == whole
