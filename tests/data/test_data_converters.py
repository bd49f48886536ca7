"""Each converter on generated data: exact counts, masks pixel-equal after the Parquet round trip."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from conftest import N_BENCH, N_TRAIN, SEED, SIZE

from vrt.data import rle
from vrt.data.prepare import PrepareConfig, prepare
from vrt.data.reader import iter_samples, read_table
from vrt.data.schema import SCHEMA
from vrt.data.sources import converter
from vrt.data.synth.layouts import items, pool_key


@pytest.fixture(scope="module")
def prepared(raw_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    manifests = {}
    for source in ("vrt-80k", "vrt-bench", "reasonseg", "vgr"):
        cfg = PrepareConfig(source, str(raw_dir / source), str(out / source), shard_size=8)
        manifests[source] = prepare(cfg)
    return out, manifests


def _rows(out, source) -> list[dict]:
    return list(iter_samples(str(out / source)))


def test_counts_and_tallies(prepared):
    _, m = prepared
    assert m["vrt-80k"].counts == {"input": N_TRAIN, "written": N_TRAIN, "quarantined": 0}
    assert m["vrt-80k"].extra["tally"] == {"lacking_reasoning": 3, "layout_authors": 27, "layout_pool": 3}
    assert m["vrt-bench"].counts == {"input": N_BENCH, "written": N_BENCH, "quarantined": 0}
    assert m["reasonseg"].counts == {"input": N_BENCH, "written": N_BENCH, "quarantined": 0}
    assert m["vgr"].counts == {"input": 15, "written": 15, "quarantined": 0}
    assert m["vgr"].extra["tally"] == {"boxes_normalised": 8, "boxes_pixels": 7}
    assert [s.rows for s in m["vrt-80k"].shards] == [8, 8, 8, 6]
    assert [s.path for s in m["vgr"].shards] == ["shards/part-00000.parquet", "shards/part-00001.parquet"]


def test_parquet_round_trip_equals_direct_conversion(prepared, raw_dir):
    out, _ = prepared
    conv = converter("vrt-bench")
    root = raw_dir / "vrt-bench"
    direct = [conv.convert(r) for r in conv.iter_raw(conv.find_inputs(root), root)]
    _, table = read_table(str(out / "vrt-bench"))
    assert table.schema.equals(SCHEMA, check_metadata=False)
    assert table.to_pylist() == direct


def test_vrt80k_masks_ids_and_text(prepared):
    out, _ = prepared
    rows = {r["id"]: r for r in _rows(out, "vrt-80k")}
    assert len(rows) == N_TRAIN
    for i, scene, qa, rng in items(SEED, "vrt-80k", N_TRAIN, SIZE):
        row = rows[f"vrt80k-{i:06d}"]
        pool = {o["id"]: rle.decode(o["rle"], (SIZE, SIZE)) for o in row["objects"]}
        if i % 10 == 9:  # pool layout: ids are pool keys, no reasoning text
            ids = {j: str(pool_key(j)) for j in range(len(scene.shapes))}
            assert row["reasoning"] is None and json.loads(row["extra"])["layout"] == "pool"
        else:
            order = rng.permutation(len(scene.shapes))
            ids = {int(s): f"obj{k + 1}" for k, s in enumerate(order)}
            assert "<ver>" not in row["reasoning"] and "<ref:" in row["reasoning"]
            assert all(f"<ref:{ids[j]}>" in row["answer"] for j in qa.answer_ids)
        for j, shape in enumerate(scene.shapes):
            assert np.array_equal(pool[ids[j]], shape.mask)
        assert row["reasoning_ids"] == [ids[j] for j in qa.reasoning_ids]
        assert row["answer_ids"] == [ids[j] for j in qa.answer_ids]
        assert row["question"] == qa.question


def test_vrt_bench_pool_indices_classes(prepared):
    out, _ = prepared
    rows = _rows(out, "vrt-bench")
    for (i, scene, qa, _), row in zip(items(SEED, "vrt-bench", N_BENCH, SIZE), rows, strict=True):
        assert row["id"] == f"bench-{i:04d}"
        # the pool keeps objects_info_json's order (written in reverse) and its keys (non-contiguous)
        n = len(scene.shapes)
        assert [o["id"] for o in row["objects"]] == [str(pool_key(j)) for j in reversed(range(n))]
        for obj, j in zip(row["objects"], reversed(range(n)), strict=True):
            assert np.array_equal(rle.decode(obj["rle"], (SIZE, SIZE)), scene.shapes[j].mask)
        # human_labeled_* hold keys: they name the right shapes whatever the JSON order
        assert row["reasoning_ids"] == [str(pool_key(j)) for j in qa.reasoning_ids]
        assert row["answer_ids"] == [str(pool_key(j)) for j in qa.answer_ids]
        assert row["class_ids"] == qa.classes
        assert 3 <= json.loads(row["extra"])["human_confidence"] <= 5


def test_reasonseg_target_mask(prepared):
    out, _ = prepared
    rows = _rows(out, "reasonseg")
    for (i, scene, qa, _), row in zip(items(SEED, "reasonseg", N_BENCH, SIZE), rows, strict=True):
        assert row["id"] == f"rs_{i:04d}:{i % 3}"
        union = np.zeros((SIZE, SIZE), bool)
        for j in qa.answer_ids:
            union |= scene.shapes[j].mask
        assert np.array_equal(rle.decode(row["objects"][0]["rle"], (SIZE, SIZE)), union)
        assert row["answer_ids"] == ["target"] and row["question"] == qa.question


def test_vgr_boxes_in_pixels_both_conventions(prepared):
    out, _ = prepared
    rows = _rows(out, "vgr")
    for (i, scene, qa, _), row in zip(items(SEED, "vgr", 15, SIZE), rows, strict=True):
        assert row["id"] == f"vgr-{i:06d}"
        assert json.loads(row["extra"])["box_convention"] == ("normalised" if i % 2 == 0 else "pixels")
        assert len(row["objects"]) == len(qa.reasoning_ids)
        for obj, j in zip(row["objects"], qa.reasoning_ids, strict=True):
            assert obj["box"] == pytest.approx(list(scene.shapes[j].box), abs=SIZE * 0.00005 + 1e-9)
            assert obj["rle"] is None
        assert row["answer"] == qa.phrase
        assert row["reasoning"].count("<ref:") == qa.reasoning.count("[[")


def test_vrt_bench_ids_are_pool_keys_not_positions():
    """objects_info_json with keys 42, 7, 19 written in that order: human_labeled ids 7 and 19 name
    those objects (the authors read `objects_info[int(id)]`), and scoring them picks the right masks."""
    from PIL import Image

    from components.evaluate.ground_truth import vrt_ground_truth
    from evaluation.score import score
    from vrt.data.example import encode_example
    from vrt.data.sources import vrt_bench
    from vrt.data.sources.common import RawRecord

    size = 16
    buf = io.BytesIO()
    Image.new("RGB", (size, size)).save(buf, format="PNG")
    image = buf.getvalue()
    masks = {}
    for key, (y0, y1) in {42: (0, 4), 7: (4, 8), 19: (8, 12)}.items():
        m = np.zeros((size, size), bool)
        m[y0:y1] = True
        masks[key] = m
    info = {str(k): {"mask": {"size": [size, size], "counts": rle.encode(m)}, "caption": f"o{k}"}
            for k, m in masks.items()}  # fmt: skip

    payload = encode_example({
        "key": "k", "image": image, "question": "which?", "objects_info_json": json.dumps(info),
        "human_labeled_r_objs": [19, 7], "human_labeled_a_objs": [7],
    })  # fmt: skip
    row = vrt_bench.convert(RawRecord("k", payload))
    assert (row["reasoning_ids"], row["answer_ids"]) == (["19", "7"], ["7"])
    gt = vrt_ground_truth(row)
    pred = {
        "id": "k",
        "text": "<think>[SEG] [SEG]</think><answer>[SEG]</answer>",
        "masks": [{"size": [size, size], "counts": rle.encode(masks[k])} for k in (19, 7, 7)],
    }
    out = score("vrt-bench", [gt], [json.dumps(pred)])
    assert out.metrics_json["metrics"]["A-mIoU"] == 1.0 and out.metrics_json["metrics"]["R-LQ"] == 1.0
    missing = encode_example({
        "key": "m", "image": image, "question": "which?", "objects_info_json": json.dumps(info),
        "human_labeled_r_objs": [1], "human_labeled_a_objs": [7],
    })  # fmt: skip
    with pytest.raises(vrt_bench.BadRecord, match="human_labeled_r_objs id 1 is not a key of objects_info_json"):
        vrt_bench.convert(RawRecord("m", missing))
