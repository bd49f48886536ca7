"""Box-mode predictions: parsed and validated by evaluation/, turned into masks by SAM 2 (`--sam`)."""

from __future__ import annotations

import io
import json

import pytest
from eval_dataset import VRT_POOL, jsonl, vrt_rows, write_dataset

from evaluation.predictions import load_predictions
from evaluation.score import score
from vrt.cli.main import main

P = VRT_POOL
V1_TEXT = "<think>a [SEG] b [SEG]</think><answer>[SEG]</answer>"
V1_BOXES = [[0, 0, 45, 30], [45, 30, 90, 60], [40.5, 25.0, 90, 60]]
V2_MASKS = {
    "id": "v2",
    "text": "<think>[SEG] [SEG]</think><answer>[SEG]</answer>",
    "masks": [P["o4"], P["o3"], P["o4"]],
}
BOX_PREDS = [{"id": "v1", "text": V1_TEXT, "boxes": V1_BOXES}, V2_MASKS]


@pytest.fixture(scope="module")
def vrt_data(tmp_path_factory) -> str:
    return write_dataset(tmp_path_factory.mktemp("boxes") / "vrt-bench", "vrt-bench", vrt_rows())


@pytest.fixture(scope="module")
def sam_model(tmp_path_factory) -> str:
    from models import RSa2VA, load_preset

    directory = tmp_path_factory.mktemp("sam") / "model"
    RSa2VA.from_preset(load_preset("tiny"), seed=0).save_pretrained(directory)
    return str(directory)


def run(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr().err


def score_args(data, preds, out):
    return [
        "eval",
        "score",
        "--bench",
        "vrt-bench",
        "--data",
        data,
        "--predictions",
        str(preds),
        "--out",
        str(out),
    ]


def test_boxes_are_parsed_and_handed_on():
    [pred] = load_predictions([json.dumps({"id": "v1", "text": V1_TEXT, "boxes": V1_BOXES})]).values()
    assert pred.boxes == ((0.0, 0.0, 45.0, 30.0), (45.0, 30.0, 90.0, 60.0), (40.5, 25.0, 90.0, 60.0))
    assert pred.masks == () and pred.line == 1
    [none] = load_predictions([json.dumps({"id": "v1", "text": "no seg", "boxes": [], "masks": []})]).values()
    assert none.boxes == () and none.masks == ()


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"text": "[SEG] [SEG]", "boxes": [[0, 0, 1, 1]]}, r"\(id a\): 1 boxes for 2 \[SEG\] tokens"),
        ({"text": "[SEG]", "boxes": [[0, 0, 1, 1]], "masks": [P["o1"]]}, "has both 'masks' and 'boxes'"),
        ({"text": "[SEG]", "boxes": {"b": 1}}, "'boxes' must be a list of"),
        ({"text": "[SEG]", "boxes": [[0, 0, 1, "2"]]}, r"box 0 \[0, 0, 1, '2'\] is not 4 finite numbers"),
        ({"text": "[SEG]", "boxes": [[0, 0, 1, 1e999]]}, r"box 0 \[0, 0, 1, inf\] is not 4 finite numbers"),
    ],
)
def test_bad_box_lines_are_named(obj, message):
    with pytest.raises(ValueError, match=message):
        load_predictions([json.dumps({"id": "a", **obj})])


def test_pure_scorer_refuses_unconverted_boxes(vrt_data):
    from components.evaluate.ground_truth import load_ground_truth

    gts = load_ground_truth("vrt-bench", vrt_data)
    with pytest.raises(ValueError, match=r"predictions line 1 \(id v1\) has 'boxes'.*pass --sam MODEL"):
        score("vrt-bench", gts, jsonl(BOX_PREDS).splitlines())


def _expected_masks_line(sam_model: str) -> dict:
    from PIL import Image

    from models import RSa2VA
    from models.boxes import masks_from_boxes

    model = RSa2VA.from_pretrained(sam_model).eval()
    image = Image.open(io.BytesIO(vrt_rows()[0]["image"])).convert("RGB")
    return {"id": "v1", "text": V1_TEXT, "masks": masks_from_boxes(model, image, V1_BOXES)}


def test_score_with_sam_equals_scoring_the_sam_masks(tmp_path, vrt_data, sam_model):
    boxes, masks_file = tmp_path / "boxes.jsonl", tmp_path / "masks.jsonl"
    boxes.write_text("\n" + jsonl(BOX_PREDS))  # a blank line first: lines are rewritten by number
    masks_file.write_text(jsonl([_expected_masks_line(sam_model), V2_MASKS]))
    main([*score_args(vrt_data, boxes, tmp_path / "out"), "--sam", sam_model])
    main(score_args(vrt_data, masks_file, tmp_path / "ref"))
    got = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert got == json.loads((tmp_path / "ref" / "metrics.json").read_text())
    assert set(got["metrics"]) == {"R-LQ", "R-SQ", "A-mIoU", "A-LQ", "A-SQ"}
    assert got["counts"]["samples"] == 3 and got["counts"]["missing_predictions"] == 1
    assert got["counts"]["predicted_reasoning_masks"] == 4 and got["counts"]["predicted_answer_masks"] == 2
    assert sam_model in (tmp_path / "out" / "report.html").read_text()


def test_boxes_without_sam_exit_2(tmp_path, vrt_data, capsys):
    preds = tmp_path / "boxes.jsonl"
    preds.write_text(jsonl(BOX_PREDS))
    code, err = run(score_args(vrt_data, preds, tmp_path / "out"), capsys)
    assert code == 2
    assert "predictions line 1 (id v1) has 'boxes'" in err and "pass --sam MODEL" in err
    assert not (tmp_path / "out").exists()


def test_bad_box_with_sam_exit_2(tmp_path, vrt_data, sam_model, capsys):
    preds = tmp_path / "boxes.jsonl"
    preds.write_text(
        jsonl([{"id": "v1", "text": V1_TEXT, "boxes": [V1_BOXES[0], [50, 0, 10, 10], V1_BOXES[2]]}])
    )
    code, err = run([*score_args(vrt_data, preds, tmp_path / "out"), "--sam", sam_model], capsys)
    assert code == 2
    assert "predictions line 1 (id v1): box 1 [50.0, 0.0, 10.0, 10.0]: needs x2 > x1 and y2 > y1" in err
    code, err = run([*score_args(vrt_data, preds, tmp_path / "out"), "--sam", str(tmp_path / "nope")], capsys)
    assert code == 2 and "is not a directory" in err


def test_evaluate_step_takes_sam_model_uri(tmp_path, vrt_data, sam_model, monkeypatch):
    from components.evaluate.component import evaluate
    from components.evaluate.step import evaluate_step

    assert evaluate.component_spec.inputs["sam_model_uri"].default == ""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("VRT_EXPERIMENT", "boxes-test")
    pointer, preds = tmp_path / "dataset.json", tmp_path / "boxes.jsonl"
    pointer.write_text(json.dumps({"uri": vrt_data}))
    preds.write_text(jsonl(BOX_PREDS))
    flat = evaluate_step(
        "vrt-bench", str(pointer), str(preds), str(tmp_path / "report.html"), sam_model_uri=sam_model
    )
    assert flat["count/samples"] == 3.0 and flat["count/predicted_reasoning_masks"] == 4.0
