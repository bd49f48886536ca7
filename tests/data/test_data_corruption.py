"""Every corruption case is quarantined with its reason counted; counts always add up."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from vrt.data import rle, tfrecord
from vrt.data.example import encode_example
from vrt.data.manifest import QUARANTINE
from vrt.data.prepare import PrepareConfig, prepare
from vrt.data.synth.layouts import _authors_record, _pool_features, items, pool_key
from vrt.errors import UserError

SIZE = 64


def _bench_records() -> list[bytes]:
    ((_, scene, qa, _),) = list(items(3, "vrt-bench", 1, SIZE))
    good = _pool_features("good", scene, qa)

    def variant(key: str, **changes) -> bytes:
        return encode_example(good | {"key": key} | changes)

    info = json.loads(good["objects_info_json"])
    first, second = str(pool_key(0)), str(pool_key(1))
    bad_rle = json.dumps(info | {first: info[first] | {"mask": {"size": [SIZE, SIZE], "counts": "5"}}})
    small = {"size": [32, 32], "counts": rle.encode(np.zeros((32, 32), bool))}
    wrong_size = json.dumps(info | {second: info[second] | {"mask": small}})
    crc_damaged = bytearray(tfrecord.frame(variant("crc")))
    crc_damaged[20] ^= 0xFF
    return [
        tfrecord.frame(variant("good")),
        tfrecord.frame(variant("bad-image", image=b"\xff\xd8 not a jpeg")),
        tfrecord.frame(variant("bad-rle", objects_info_json=bad_rle)),
        tfrecord.frame(variant("mask-size", objects_info_json=wrong_size)),
        tfrecord.frame(variant("missing-obj", human_labeled_a_objs=[1])),  # a position, not a key
        tfrecord.frame(variant("no-question", question="  ")),
        bytes(crc_damaged),
        tfrecord.frame(b"\x0a\x05\x0a"),
        tfrecord.frame(variant("good-2")),
        tfrecord.frame(variant("cut"))[:-7],
    ]


def _quarantine(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / QUARANTINE).read_text().splitlines()]


def test_vrt_bench_corruptions(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "vrt_eval.tfrecord").write_bytes(b"".join(_bench_records()))
    m = prepare(PrepareConfig("vrt-bench", str(raw), str(tmp_path / "out"), shard_size=4))
    assert m.counts == {"input": 10, "written": 2, "quarantined": 8}
    assert m.quarantine_reasons == {
        "crc_mismatch": 1,
        "empty_question": 1,
        "invalid_rle": 1,
        "malformed_record": 1,
        "mask_size_mismatch": 1,
        "missing_object": 1,
        "truncated_record": 1,
        "undecodable_image": 1,
    }
    q = {e["key"]: e["reason"] for e in _quarantine(tmp_path / "out")}
    assert q["bad-rle"] == "invalid_rle" and q["mask-size"] == "mask_size_mismatch"
    assert q["missing-obj"] == "missing_object" and q["no-question"] == "empty_question"
    assert q["vrt_eval.tfrecord#7"] == "malformed_record"
    assert any(k.startswith("vrt_eval.tfrecord#6@") and v == "crc_mismatch" for k, v in q.items())
    assert any(k.startswith("vrt_eval.tfrecord#9@") and v == "truncated_record" for k, v in q.items())
    detail = next(e["detail"] for e in _quarantine(tmp_path / "out") if e["key"] == "mask-size")
    assert detail == f"object {pool_key(1)}: mask is 32x32, image is 64x64"
    detail = next(e["detail"] for e in _quarantine(tmp_path / "out") if e["key"] == "missing-obj")
    assert detail == "human_labeled_a_objs id 1 is not a key of objects_info_json"


def test_vrt80k_corruptions(tmp_path):
    from vrt.data.example import decode_example

    ((i, scene, qa, rng),) = list(items(4, "vrt-80k", 1, SIZE))
    features = decode_example(_authors_record(i, scene, qa, rng))
    doc = json.loads(features["json"][0])

    def record(key: str, mutate=None, image=None) -> bytes:
        d = json.loads(json.dumps(doc))
        if mutate:
            mutate(d)
        return encode_example({"key": key, "image": image or features["image"][0], "json": json.dumps(d)})

    cand = lambda d: d["generated_ver_data"]["candidates"][0]
    anns = lambda d: d["original_annotation"]["objects_anns"]
    records = [
        record("ok"),
        record("answer-missing", lambda d: cand(d).update(answer_objects=["<obj9>"])),
        record(
            "ref-missing", lambda d: cand(d).update(reasoning=cand(d)["reasoning"] + " and <ver><obj9></ver>")
        ),
        record("cut-jpeg", image=features["image"][0][:200]),
        record(
            "rle-list-sizes",
            lambda d: anns(d).update(
                {
                    "<obj1>": {
                        "segmentation": [
                            {"size": [SIZE, SIZE], "counts": rle.encode(np.zeros((SIZE, SIZE), bool))},
                            {"size": [8, 8], "counts": rle.encode(np.zeros((8, 8), bool))},
                        ]
                    }
                }
            ),
        ),
        record("no-question", lambda d: cand(d).update(question="")),
        record("no-candidates", lambda d: d["generated_ver_data"].update(candidates=[])),
    ]
    raw = tmp_path / "raw"
    raw.mkdir()
    with open(raw / "ver_training_00000.tfrecord", "wb") as f:
        tfrecord.write_records(f, records)
    m = prepare(PrepareConfig("vrt-80k", str(raw), str(tmp_path / "out")))
    assert m.counts == {"input": 7, "written": 1, "quarantined": 6}
    q = {e["key"]: e["reason"] for e in _quarantine(tmp_path / "out")}
    assert q == {
        "answer-missing": "missing_object",
        "ref-missing": "missing_object",
        "cut-jpeg": "undecodable_image",
        "rle-list-sizes": "invalid_rle",
        "no-question": "empty_question",
        "no-candidates": "malformed_record",
    }


def test_reasonseg_corruptions(raw_dir, tmp_path):
    table = pq.read_table(raw_dir / "reasonseg/data/test-00000-of-00001.parquet").slice(0, 4)
    rows = table.to_pylist()
    rows[1]["mask"] = [[False] * 10] * 10
    rows[2]["text"] = ""
    rows[3]["image"] = {"bytes": b"garbage", "path": "x.png"}
    raw = tmp_path / "raw"
    raw.mkdir()
    pq.write_table(table.from_pylist(rows, schema=table.schema), raw / "test.parquet")
    m = prepare(PrepareConfig("reasonseg", str(raw), str(tmp_path / "out")))
    assert m.counts == {"input": 4, "written": 1, "quarantined": 3}
    assert m.quarantine_reasons == {"empty_question": 1, "mask_size_mismatch": 1, "undecodable_image": 1}


def test_vgr_box_cases(raw_dir, tmp_path):
    base = json.loads((raw_dir / "vgr/vgr_sft.json").read_text())[0]

    def rec(rid: str, boxes: str, image: str = base["image"], question: str = "Which one?") -> dict:
        return {
            "id": rid,
            "image": image,
            "conversations": [
                {"from": "human", "value": f"<image>\n{question}"},
                {"from": "gpt", "value": f"Look at {boxes}. Final answer: red"},
            ],
        }

    records = [
        rec("normalised", "<sot>[0.1, 0.2, 0.5, 0.6]<eot>"),
        rec("pixels", "<sot>[3, 4, 30, 40]<eot> and <sot>[3, 4, 30, 40]<eot>"),
        rec("ambiguous", "<sot>[0, 0, 1, 1]<eot>"),
        rec("outside", "<sot>[10, 10, 65, 20]<eot>"),
        rec("degenerate", "<sot>[0.5, 0.2, 0.5, 0.6]<eot>"),
        rec("three", "<sot>[1, 2, 3]<eot>"),
        rec("no-image", "<sot>[3, 4, 30, 40]<eot>", image="gqa/images/missing.jpg"),
        rec("empty-q", "<sot>[3, 4, 30, 40]<eot>", question="<image>"),
    ]
    raw = tmp_path / "raw"
    (raw / Path(base["image"]).parent).mkdir(parents=True)
    (raw / base["image"]).write_bytes((raw_dir / "vgr" / base["image"]).read_bytes())
    (raw / "vgr.json").write_text(json.dumps(records))
    m = prepare(PrepareConfig("vgr", str(raw), str(tmp_path / "out")))
    assert m.counts == {"input": 8, "written": 2, "quarantined": 6}
    assert m.quarantine_reasons == {
        "ambiguous_box_convention": 1,
        "bad_box": 3,
        "empty_question": 1,
        "missing_image": 1,
    }
    assert m.extra["tally"] == {"boxes_normalised": 1, "boxes_pixels": 1}


def test_file_that_is_not_a_tfrecord_is_a_user_error(tmp_path):
    (tmp_path / "vrt_eval.tfrecord").write_text("this is a text file, not a TFRecord\n")
    with pytest.raises(UserError, match=r"vrt_eval.tfrecord is not a TFRecord file"):
        prepare(PrepareConfig("vrt-bench", str(tmp_path), str(tmp_path / "out")))


def _full_decode_fails(data: bytes) -> bool:
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
        return False
    except Exception:  # noqa: BLE001 (any failure counts as "does not decode")
        return True


def _jpeg_cases() -> dict[str, bytes]:
    import io

    from PIL import Image

    rng = np.random.default_rng(4)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (96, 128, 3), np.uint8)).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    cases = {f"cut-at-{k}": data[: len(data) * k // 10] for k in range(1, 10)}
    cases |= {f"flip-at-{k}": data[: len(data) * k // 10] + bytes([data[len(data) * k // 10] ^ 0xFF])
              + data[len(data) * k // 10 + 1 :] for k in range(1, 10)}
    cases |= {"no-eoi": data[:-2], "zero-tail": data[:600] + bytes(len(data) - 600), "header-only": data[:300],
              "sound": data}
    return cases


@pytest.mark.parametrize(("name", "data"), list(_jpeg_cases().items()))
def test_jpeg_check_fails_exactly_where_a_full_decode_fails(name, data):
    from vrt.data.sources.common import BadRecord, image_size

    try:
        image_size(data)
        failed = False
    except BadRecord:
        failed = True
    assert failed == _full_decode_fails(data)



def test_length_crc_mismatch_reports_the_unreadable_tail(tmp_path, capsys):
    ((_, scene, qa, _),) = list(items(3, "vrt-bench", 1, SIZE))
    good = [tfrecord.frame(encode_example(_pool_features(f"r{i}", scene, qa))) for i in range(12)]
    damaged = bytearray(good[4])
    damaged[8] ^= 0xFF  # the length's CRC: framing cannot go on past record 4
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "vrt_eval.tfrecord").write_bytes(b"".join(good[:4]) + bytes(damaged) + b"".join(good[5:]))
    m = prepare(PrepareConfig("vrt-bench", str(raw), str(tmp_path / "out"), shard_size=4))
    tail = sum(len(r) for r in good[4:])
    assert m.counts == {"input": 5, "written": 4, "quarantined": 1}
    assert m.extra["unreadable_tail"] == {"files": 1, "bytes": tail, "records_estimate": 8}
    (entry,) = _quarantine(tmp_path / "out")
    assert entry["reason"] == "crc_mismatch" and (entry["tail_bytes"], entry["tail_records"]) == (tail, 8)
    assert "about 8 record(s) lost" in " ".join(capsys.readouterr().err.split())


def test_empty_image_feature_is_quarantined(tmp_path):
    ((_, scene, qa, _),) = list(items(3, "vrt-bench", 1, SIZE))
    good = _pool_features("good", scene, qa)
    raw = tmp_path / "raw"
    raw.mkdir()
    empty = encode_example(good | {"key": "empty", "image": b""})
    (raw / "vrt_eval.tfrecord").write_bytes(tfrecord.frame(encode_example(good)) + tfrecord.frame(empty))
    m = prepare(PrepareConfig("vrt-bench", str(raw), str(tmp_path / "out")))
    assert (m.counts, m.quarantine_reasons) == ({"input": 2, "written": 1, "quarantined": 1}, {"undecodable_image": 1})
    assert _quarantine(tmp_path / "out") == [{"key": "empty", "reason": "undecodable_image", "detail": "image bytes are empty"}]
