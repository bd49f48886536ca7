"""Readers fetch only what they need: evaluation and inspection read no image bytes except the
samples they show; column reads fetch only those column chunks."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from vrt.data import rowgroups
from vrt.data.prepare import PrepareConfig, prepare
from vrt.data.reader import NO_IMAGE, read_columns, read_images, read_table


@pytest.fixture()
def bench(raw_dir, tmp_path):
    """The generated VRT-Bench (12 samples), one sample per row group."""
    out = tmp_path / "bench"
    prepare(PrepareConfig("vrt-bench", str(raw_dir / "vrt-bench"), str(out), shard_size=5, row_group_size=1, workers=1))
    return out


def _image_reads(monkeypatch, root) -> list[str]:
    """Record the ids whose image column chunk is fetched by any ranged read."""
    chunks = {}  # (path, offset, end) of each image column chunk -> id
    for path in sorted((root / "shards").iterdir()):
        meta, ids = pq.read_metadata(path), pq.read_table(path, columns=["id"]).column("id").to_pylist()
        for g in range(meta.num_row_groups):
            col = next(meta.row_group(g).column(c) for c in range(meta.num_columns)
                       if meta.row_group(g).column(c).path_in_schema == "image")
            chunks[(str(path), col.data_page_offset, col.data_page_offset + col.total_compressed_size)] = ids[g]
    seen: list[str] = []
    real = rowgroups.read_range

    def spy(uri: str, offset: int, length: int) -> bytes:
        seen.extend(i for (p, a, b), i in chunks.items() if p == uri and offset < b and a < offset + length)
        return real(uri, offset, length)

    monkeypatch.setattr(rowgroups, "read_range", spy)
    return seen


def test_scoring_reads_only_the_images_of_the_cards_shown(bench, tmp_path, monkeypatch):
    from components.evaluate.scoring import score_uris

    ids = read_columns(str(bench), ["id"])[1].column("id").to_pylist()
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": i, "text": "nothing", "masks": []}) + "\n" for i in ids))
    seen = _image_reads(monkeypatch, bench)
    out = score_uris("vrt-bench", str(bench), str(preds), cards=1)
    shown = sorted(c.id for c in out.worst + out.best)
    assert len(shown) == 2 and sorted(seen) == shown
    assert all(c.image for c in out.worst + out.best)
    assert out.metrics_json["counts"]["samples"] == 12


def test_inspect_reads_only_the_images_it_renders(bench, tmp_path, monkeypatch):
    from vrt.data.inspect import describe, render_samples

    seen = _image_reads(monkeypatch, bench)
    lines = describe(str(bench), n_samples=3)
    assert seen == [] and sum(line.startswith("[") for line in lines) == 3
    paths = render_samples(str(bench), 2, tmp_path / "pics")
    assert len(paths) == 2 and len(seen) == 2


def test_column_reads_match_the_whole_table(bench):
    _, whole = read_table(str(bench))
    _, cols = read_columns(str(bench), NO_IMAGE)
    assert cols.to_pylist() == whole.drop_columns(["image"]).to_pylist()
    some = whole.column("id").to_pylist()[3:5]
    assert read_images(str(bench), [*some, "absent"]) == dict(zip(some, whole.column("image").to_pylist()[3:5], strict=True))
    with pytest.raises(ValueError, match=r"unknown columns \['nope'\]"):
        read_columns(str(bench), ["nope"])


def test_footer_is_one_ranged_read_placed_by_the_manifest_and_damage_is_named(bench, monkeypatch):
    from vrt.data.manifest import read_manifest
    from vrt.errors import UserError

    shard = read_manifest(str(bench)).shards[0]
    path = str(bench / shard.path)
    start = rowgroups.footer_start(shard)
    reads: list[tuple[int, int]] = []
    real = rowgroups.read_range
    monkeypatch.setattr(rowgroups, "read_range", lambda u, o, n: (reads.append((o, n)), real(u, o, n))[1])
    monkeypatch.setattr(rowgroups, "_FOOTERS", {})
    size, meta = rowgroups.read_footer(path, shard.bytes, start)
    assert size == shard.bytes and reads == [(start, shard.bytes - start)] and meta.num_rows == shard.rows == 5
    assert rowgroups.read_footer(path, shard.bytes, start)[1] is meta and len(reads) == 1  # once per process
    monkeypatch.setattr(rowgroups, "_FOOTERS", {})
    reads.clear()
    assert rowgroups.read_footer(path)[1].num_rows == 5 and len(reads) == 2  # no placement: trailer, footer
    data = bytearray((bench / shard.path).read_bytes())
    data[-6:-4] = b"\xff\xff"  # footer length past the file's start
    (bench / shard.path).write_bytes(bytes(data))
    monkeypatch.setattr(rowgroups, "_FOOTERS", {})
    with pytest.raises(UserError, match="damaged Parquet footer"):
        rowgroups.read_footer(path, shard.bytes, start)
    (bench / shard.path).write_bytes(bytes(data[:-4]) + b"NOPE")
    with pytest.raises(UserError, match="is not a Parquet file"):
        rowgroups.read_footer(path, shard.bytes, start)
