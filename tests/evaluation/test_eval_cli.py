"""`vrt eval score` end to end on a canonical dataset written in the test."""

import json
import re

import pytest
from eval_dataset import VRT_POOL, jsonl, rect, row, vrt_rows, write_dataset

from evaluation import masks
from vrt.cli.main import main

P = VRT_POOL
VRT_PREDS = [
    {
        "id": "v1",
        "text": "<think>a [SEG] b [SEG]</think><answer>[SEG]</answer>",
        "masks": [P["o1"], P["o2"], P["o2"]],
    },
    {
        "id": "v2",
        "text": "<think>[SEG] [SEG]</think><answer>[SEG]</answer>",
        "masks": [P["o4"], P["o3"], P["o4"]],
    },
]


def run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr().err


@pytest.fixture()
def vrt_data(tmp_path):
    return write_dataset(tmp_path / "vrt-bench", "vrt-bench", vrt_rows())


def score_args(data, preds, out, bench="vrt-bench"):
    return ["eval", "score", "--bench", bench, "--data", data, "--predictions", str(preds), "--out", str(out)]


def test_vrt_bench_metrics_json(tmp_path, vrt_data):
    preds = tmp_path / "preds.jsonl"
    preds.write_text(jsonl(VRT_PREDS))
    main(score_args(vrt_data, preds, tmp_path / "out"))
    got = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert got["bench"] == "vrt-bench" and got["options"] == {}
    assert got["metrics"] == pytest.approx(
        {"R-LQ": 4 / 6, "R-SQ": 1.0, "A-mIoU": 2 / 3, "A-LQ": 2 / 3, "A-SQ": 1.0}
    )
    assert got["by_class"]["#loc"] == {
        "R-LQ": 1.0,
        "R-SQ": 1.0,
        "A-mIoU": 1.0,
        "A-LQ": 1.0,
        "A-SQ": 1.0,
        "samples": 1,
    }
    assert got["by_class"]["#comp"] == pytest.approx(
        {"R-LQ": 2 / 3, "R-SQ": 1.0, "A-mIoU": 1.0, "A-LQ": 1.0, "A-SQ": 1.0, "samples": 1}
    )
    assert got["by_class"]["#func"] == {
        "R-LQ": 0.0,
        "R-SQ": 0.0,
        "A-mIoU": 0.0,
        "A-LQ": 0.0,
        "A-SQ": 0.0,
        "samples": 1,
    }
    assert got["counts"] == {
        "samples": 3,
        "gt_reasoning_objects": 6,
        "gt_answer_objects": 3,
        "missing_predictions": 1,
        "predictions_without_answer_span": 0,
        "predicted_reasoning_masks": 4,
        "predicted_answer_masks": 2,
        "dropped_masks": 0,
        "truncated": 0,
    }
    page = (tmp_path / "out" / "report.html").read_text()
    assert page.count('class="chip"') == 6  # v1 and v2 each have 3 [SEG] chips (worst 3 + best 0 shown once)
    assert (
        len(re.findall(r'src="data:image/png;base64,', page)) == 3 * 2 + 6
    )  # 2 panels per card + 1 thumb per mask
    assert "http" not in page.replace("http-equiv", "")  # self-contained


def test_unknown_ids_exit_2_listing_ten(tmp_path, vrt_data, capsys):
    preds = tmp_path / "preds.jsonl"
    preds.write_text(jsonl([{"id": f"zz{i:02d}", "text": "", "masks": []} for i in range(11)]))
    code, err = run(score_args(vrt_data, preds, tmp_path / "out"), capsys)
    assert code == 2
    assert "11 prediction id(s) are not in the dataset: zz00, zz01" in err and "zz09 … (11 in all)" in err
    assert not (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.parametrize(
    "content, message",
    [
        (
            '{"id": "v1", "text": "x", "masks": []}\n{"id": "v2", "text"\n',
            "predictions line 2: malformed JSON",
        ),
        (
            '{"id": "v1", "text": "[SEG]", "masks": [{"size": [60, 90], "counts": "abc"}]}\n',
            "line 1 (id v1): mask 0",
        ),
        (
            jsonl([{"id": "v2", "text": "[SEG]", "masks": [rect(0, 2, 0, 2, 10, 10)]}]),
            "sample v2 (predictions line 1): mask 0 has size [10, 10]",
        ),
    ],
)
def test_bad_predictions_exit_2(tmp_path, vrt_data, capsys, content, message):
    preds = tmp_path / "preds.jsonl"
    preds.write_text(content)
    code, err = run(score_args(vrt_data, preds, tmp_path / "out"), capsys)
    assert code == 2 and message in err


def test_missing_files_and_wrong_bench(tmp_path, vrt_data, capsys):
    code, err = run(score_args(vrt_data, tmp_path / "nope.jsonl", tmp_path / "out"), capsys)
    assert code == 2 and "nope.jsonl not found" in err
    preds = tmp_path / "preds.jsonl"
    preds.write_text("")
    code, err = run(score_args(vrt_data, preds, tmp_path / "out", bench="reasonseg"), capsys)
    assert code == 2 and "holds vrt-bench samples" in err
    code, err = run(score_args(str(tmp_path / "absent"), preds, tmp_path / "out"), capsys)
    assert code == 2 and "not a published dataset" in err


def test_reasonseg_options(tmp_path, capsys):
    target = rect(0, 30, 0, 45)
    empty = masks.empty(60, 90)
    rows = [
        row("r1", "reasonseg", {"t": target}, [], ["t"]),
        row("r2", "reasonseg", {"t": target, "ignore": rect(0, 30, 45, 60)}, [], ["t"]),
        row("r3", "reasonseg", {"t": empty}, [], ["t"]),
    ]
    data = write_dataset(tmp_path / "rs", "reasonseg", rows)
    preds = tmp_path / "preds.jsonl"
    ans = "<think>t</think><answer>[SEG]</answer>"
    preds.write_text(
        jsonl(
            [
                {"id": "r1", "text": ans, "masks": [rect(0, 30, 0, 30)]},  # I 900 / U 1350
                {"id": "r2", "text": ans, "masks": [target]},  # foreground: 1350 / 1800, exclude: 1.0
                {"id": "r3", "text": "<answer>none</answer>", "masks": []},
            ]
        )
    )
    main(score_args(data, preds, tmp_path / "a", bench="reasonseg"))
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert a["options"] == {"empty": "one", "ignore": "foreground"}
    assert a["metrics"] == pytest.approx(
        {"gIoU": (2 / 3 + 0.75 + 1.0) / 3, "cIoU": (900 + 1350) / (1350 + 1800)}
    )
    assert a["counts"]["empty_rule_samples"] == 1 and a["counts"]["ignore_rule_samples"] == 1
    main(
        score_args(data, preds, tmp_path / "b", bench="reasonseg")
        + ["--empty", "drop", "--ignore", "exclude"]
    )
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert b["metrics"] == pytest.approx({"gIoU": (2 / 3 + 1.0) / 2, "cIoU": (900 + 1350) / (1350 + 1350)})
    assert b["counts"]["scored_samples"] == 2
    code, err = run(score_args(data, preds, tmp_path / "c", bench="reasonseg") + ["--empty", "zero"], capsys)
    assert code == 2 and "empty rule 'zero' is unknown" in err


def test_s3_dataset_predictions_and_output(tmp_path, s3_bucket, vrt_data):
    from vrt import storage

    root = f"{s3_bucket}/eval"
    storage.upload_dir(vrt_data, f"{root}/data")
    storage.write_bytes(f"{root}/preds.jsonl", jsonl(VRT_PREDS).encode())
    main(score_args(f"{root}/data", f"{root}/preds.jsonl", f"{root}/out"))
    got = json.loads(storage.read_bytes(f"{root}/out/metrics.json"))
    assert got["metrics"]["R-LQ"] == pytest.approx(4 / 6) and got["counts"]["missing_predictions"] == 1
    assert storage.read_bytes(f"{root}/out/report.html").startswith(b"<!doctype html>")
