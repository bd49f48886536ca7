"""Write generated samples in each source's real on-disk layout (see TASKS.md §1.1, §2, §3).

vrt-80k/ver_training_00000.tfrecord ...   key, image (JPEG), json (authors' layout);
                                          every 10th record in the pool layout, no reasoning
vrt-bench/vrt_eval.tfrecord + .index      VRT-Bench features
reasonseg/data/test-00000-of-00001.parquet HF-style Parquet
vgr/vgr_sft.json + images/...              LLaVA-style records, <sot>[x1, y1, x2, y2]<eot> boxes
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vrt.data import rle, tfrecord
from vrt.data.example import encode_example
from vrt.data.synth.questions import QA, make_qa, render
from vrt.data.synth.scene import Scene, make_scene

RECORDS_PER_FILE = 100
POOL_LAYOUT_EVERY = 10
SALTS = {"vrt-80k": 1, "vrt-bench": 2, "reasonseg": 3, "vgr": 4}


def items(seed: int, source: str, n: int, size: int) -> Iterator[tuple[int, Scene, QA, np.random.Generator]]:
    """n (index, scene, question, rng) for a source; item i depends only on (seed, source, i)."""
    for i in range(n):
        rng = np.random.default_rng([seed, SALTS[source], i])
        while True:
            scene = make_scene(rng, size)
            qa = make_qa(scene, rng)
            if qa is not None:
                break
        yield i, scene, qa, rng


def _segmentation(mask: np.ndarray, j: int) -> dict | list:
    """COCO RLE of a mask; some objects as uncompressed counts or a list of two RLEs (both valid)."""
    counts = rle.encode(mask)
    h, w = mask.shape
    if j % 4 == 1:
        top, bottom = mask.copy(), mask.copy()
        top[h // 2 :], bottom[: h // 2] = False, False
        return [{"size": [h, w], "counts": rle.encode(top)}, {"size": [h, w], "counts": rle.encode(bottom)}]
    if j % 4 == 2:
        return {"size": [h, w], "counts": rle.parse_counts(counts)}
    return {"size": [h, w], "counts": counts}


def _authors_record(i: int, scene: Scene, qa: QA, rng: np.random.Generator) -> bytes:
    order = rng.permutation(len(scene.shapes))
    num = {int(s): k + 1 for k, s in enumerate(order)}
    anns = {
        f"<obj{num[s]}>": {
            "segmentation": _segmentation(scene.shapes[s].mask, k),
            "caption": f"a {scene.shapes[s].name}",
        }
        for k, s in enumerate(int(s) for s in order)
    }
    cand = {
        "question": qa.question,
        "reasoning": render(qa.reasoning, lambda j: f"<ver><obj{num[j]}></ver>"),
        "answer_caption": render(qa.answer, lambda j: f"<vea><obj{num[j]}></vea>"),
        "answer_objects": [f"<obj{num[j]}>" for j in qa.answer_ids],
        "score": round(float(rng.uniform(0.6, 1.0)), 3),
    }
    doc = {
        "generated_ver_data": {"candidates": [cand]},
        "original_annotation": {"objects_anns": anns},
        "image_name": f"synth_{i:06d}.jpg",
    }
    return encode_example({"key": f"vrt80k-{i:06d}", "image": scene.encode("JPEG"), "json": json.dumps(doc)})


def pool_key(j: int) -> int:
    """The objects_info_json key of shape j: non-contiguous, so that positions and keys differ."""
    return 3 * j + 5


def _pool_features(key: str, scene: Scene, qa: QA) -> dict:
    # written in reverse order: the JSON order of the pool is not the order of its keys
    info = {
        str(pool_key(j)): {
            "mask": {"size": [scene.size] * 2, "counts": rle.encode(scene.shapes[j].mask)},
            "original_id": 1000 + j,
            "caption": f"a {scene.shapes[j].name}",
        }
        for j in reversed(range(len(scene.shapes)))
    }
    return {
        "key": key,
        "image": scene.encode("JPEG"),
        "question": qa.question,
        "objects_info_json": json.dumps(info),
        "human_labeled_r_objs": [pool_key(j) for j in qa.reasoning_ids],
        "human_labeled_a_objs": [pool_key(j) for j in qa.answer_ids],
    }


def write_vrt80k(root: Path, seed: int, n: int, size: int) -> int:
    root.mkdir(parents=True, exist_ok=True)
    records = []
    for i, scene, qa, rng in items(seed, "vrt-80k", n, size):
        if i % POOL_LAYOUT_EVERY == POOL_LAYOUT_EVERY - 1:
            records.append(encode_example(_pool_features(f"vrt80k-{i:06d}", scene, qa) | {"reasoning": ""}))
        else:
            records.append(_authors_record(i, scene, qa, rng))
    for f, start in enumerate(range(0, n, RECORDS_PER_FILE)):
        with open(root / f"ver_training_{f:05d}.tfrecord", "wb") as out:
            tfrecord.write_records(out, records[start : start + RECORDS_PER_FILE])
    return n


def write_vrt_bench(root: Path, seed: int, n: int, size: int) -> int:
    root.mkdir(parents=True, exist_ok=True)
    records = []
    for i, scene, qa, rng in items(seed, "vrt-bench", n, size):
        features = _pool_features(f"bench-{i:04d}", scene, qa) | {
            "human_confidence": [int(rng.integers(3, 6))],
            "class_ids": qa.classes,
            "human_reasoning": render(qa.reasoning, lambda j: ""),
            "human_answer_caption": render(qa.answer, lambda j: ""),
        }
        records.append(encode_example(features))
    with open(root / "vrt_eval.tfrecord", "wb") as out:
        index = tfrecord.write_records(out, records)
    (root / "vrt_eval.index").write_bytes(tfrecord.format_index(index))
    return n


def write_reasonseg(root: Path, seed: int, n: int, size: int) -> int:
    rows = []
    for i, scene, qa, _ in items(seed, "reasonseg", n, size):
        mask = np.zeros((size, size), bool)
        for j in qa.answer_ids:
            mask |= scene.shapes[j].mask
        rows.append(
            {
                "image": {"bytes": scene.encode("PNG"), "path": f"rs_{i:04d}.png"},
                "text": qa.question,
                "mask": mask.tolist(),
                "image_id": f"rs_{i:04d}",
                "ann_id": str(i % 3),
                "img_height": size,
                "img_width": size,
            }
        )
    schema = pa.schema(
        [
            ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
            ("text", pa.string()),
            ("mask", pa.list_(pa.list_(pa.bool_()))),
            ("image_id", pa.string()),
            ("ann_id", pa.string()),
            ("img_height", pa.int64()),
            ("img_width", pa.int64()),
        ]
    )
    (root / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), root / "data" / "test-00000-of-00001.parquet")
    return n


def _box_text(box: tuple[int, int, int, int], size: int, normalised: bool) -> str:
    if normalised:
        return "<sot>[" + ", ".join(f"{v / size:.4f}" for v in box) + "]<eot>"
    return "<sot>[" + ", ".join(str(v) for v in box) + "]<eot>"


def write_vgr(root: Path, seed: int, n: int, size: int) -> int:
    records = []
    for i, scene, qa, _ in items(seed, "vgr", n, size):
        rel = f"coco/train2017/{i:012d}.jpg"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(scene.encode("JPEG"))
        boxes = [_box_text(s.box, size, normalised=i % 2 == 0) for s in scene.shapes]
        reasoning = render(qa.reasoning, boxes.__getitem__)
        records.append(
            {
                "id": f"vgr-{i:06d}",
                "image": rel,
                "conversations": [
                    {"from": "human", "value": f"<image>\n{qa.question}"},
                    {"from": "gpt", "value": f"{reasoning} Final answer: {qa.phrase}"},
                ],
            }
        )
    (root / "vgr_sft.json").write_text(json.dumps(records, indent=1))
    return n
