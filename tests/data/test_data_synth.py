"""Generated data: deterministic bytes, real layouts, exact masks, questions that need 2+ objects."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vrt.data import tfrecord
from vrt.data.example import decode_example
from vrt.data.synth import synthesize
from vrt.data.synth.layouts import items
from vrt.data.synth.scene import BACKGROUND, COLOURS, make_scene


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_differs(tmp_path, raw_dir):
    synthesize(tmp_path / "a", 30, 12, 7, 64)
    synthesize(tmp_path / "b", 30, 12, 8, 64)
    a = _files(tmp_path / "a")
    assert a == _files(raw_dir)
    b = _files(tmp_path / "b")
    assert a.keys() == b.keys()
    assert a["vrt-bench/vrt_eval.tfrecord"] != b["vrt-bench/vrt_eval.tfrecord"]


def test_real_layout_file_names(raw_dir):
    names = set(_files(raw_dir))
    assert {
        "vrt-80k/ver_training_00000.tfrecord",
        "vrt-bench/vrt_eval.tfrecord",
        "vrt-bench/vrt_eval.index",
        "reasonseg/data/test-00000-of-00001.parquet",
        "vgr/vgr_sft.json",
        "vgr/coco/train2017/000000000014.jpg",
    } <= names
    assert len([n for n in names if n.startswith("vgr/coco/")]) == 15


def test_bench_index_matches_records(raw_dir):
    data = (raw_dir / "vrt-bench/vrt_eval.tfrecord").read_bytes()
    lines = (raw_dir / "vrt-bench/vrt_eval.index").read_text().splitlines()
    assert len(lines) == 12
    offset, length = map(int, lines[3].split())
    record = next(tfrecord.iter_records(io.BytesIO(data[offset : offset + length])))
    assert decode_example(record)["key"] == [b"bench-0003"]


def test_image_is_composed_exactly_from_masks():
    scene = make_scene(np.random.default_rng(5), 96)
    img = np.array(Image.open(io.BytesIO(scene.encode("PNG"))))
    union = np.zeros((96, 96), bool)
    for s in scene.shapes:
        assert (img[s.mask] == COLOURS[s.colour]).all()
        assert not (union & s.mask).any()
        union |= s.mask
    assert (img[~union] == BACKGROUND).all()


def test_questions_trace_two_or_more_objects_and_cover_all_kinds():
    kinds = Counter()
    for _, scene, qa, _ in items(0, "vrt-bench", 120, 64):
        kinds[qa.kind] += 1
        assert len(qa.reasoning_ids) >= 2
        assert set(qa.answer_ids) <= set(qa.reasoning_ids)
        assert all(0 <= i < len(scene.shapes) for i in qa.reasoning_ids)
    assert set(kinds) == {"nearest", "colour", "count", "extreme", "higher", "rolls"}


@pytest.mark.parametrize(("n_train", "n_bench", "size"), [(0, 1, 64), (1, 0, 64), (1, 1, 16)])
def test_bad_arguments(tmp_path, n_train, n_bench, size):
    with pytest.raises(ValueError):
        synthesize(tmp_path, n_train, n_bench, 0, size)
