"""Write a small canonical dataset (schema v1 shards + manifest) from generated scenes, for SFT tests.

    write_dataset(tmp_path / "train", n=16, seed=0, shards=2)
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from vrt.data.manifest import Manifest, Shard, write_manifest
from vrt.data.rle import encode
from vrt.data.schema import SCHEMA, ref
from vrt.data.synth.questions import make_qa, render
from vrt.data.synth.scene import make_scene


def _row(i: int, rng: np.random.Generator, size: int) -> dict:
    while True:
        scene = make_scene(rng, size)
        qa = make_qa(scene, rng)
        if qa is not None:
            break
    ids = [f"o{j}" for j in range(len(scene.shapes))]
    objects = [
        {"id": ids[j], "caption": s.name, "rle": encode(s.mask), "box": [float(v) for v in s.box]}
        for j, s in enumerate(scene.shapes)
    ]
    return {
        "id": f"s{i}", "source": "vrt-80k", "image": scene.encode("PNG"), "width": size, "height": size,
        "question": qa.question, "objects": objects,
        "reasoning_ids": [ids[j] for j in qa.reasoning_ids], "answer_ids": [ids[j] for j in qa.answer_ids],
        "reasoning": render(qa.reasoning, lambda j: ref(ids[j])), "answer": render(qa.answer, lambda j: ref(ids[j])),
        "class_ids": list(qa.classes), "extra": json.dumps({"kind": qa.kind}),
    }


def write_dataset(root: Path, n: int, seed: int = 0, shards: int = 2, size: int = 64) -> Path:
    """`n` rows in `shards` Parquet files under `root`, manifest written last."""
    rng = np.random.default_rng(seed)
    rows = [_row(i, rng, size) for i in range(n)]
    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for k, part in enumerate(np.array_split(np.arange(n), shards)):
        buf = io.BytesIO()
        pq.write_table(pa.Table.from_pylist([rows[i] for i in part], schema=SCHEMA), buf)
        data = buf.getvalue()
        name = f"shard-{k:05d}.parquet"
        (root / name).write_bytes(data)
        entries.append(Shard(path=name, rows=len(part), bytes=len(data), sha256=hashlib.sha256(data).hexdigest()))
    manifest = Manifest(source="vrt-80k", revision="synthetic", counts={"input": n, "written": n, "quarantined": 0},
                        quarantine_reasons={}, shards=entries)
    write_manifest(str(root), manifest)
    return root
