"""The predictions JSONL contract: parsing and the errors that name the bad line."""

import json

import pytest
from eval_cases import A, line

from evaluation.predictions import load_predictions


def test_truncated_traces_are_counted():
    from evaluation.score import score
    from evaluation.vrt_bench import VRTGroundTruth

    gts = [VRTGroundTruth(id=i, height=4, width=4, reasoning=(), answer=()) for i in ("a", "b", "c")]
    lines = [
        json.dumps({"id": "a", "text": "<think>long", "masks": [], "truncated": True}),
        json.dumps({"id": "b", "text": "<answer>x</answer>", "masks": [], "truncated": False}),
        json.dumps({"id": "c", "text": "<answer>x</answer>", "masks": []}),  # older lines: not truncated
    ]
    assert load_predictions(lines)["a"].truncated is True
    assert score("vrt-bench", gts, lines).metrics_json["counts"]["truncated"] == 1


def test_parses_lines_and_skips_blanks():
    preds = load_predictions([line("a", "<answer>[SEG]</answer>", [A]), "", line("b", "none", [])])
    assert sorted(preds) == ["a", "b"]
    assert preds["a"].masks == (A,) and preds["a"].line == 1 and preds["b"].line == 3


@pytest.mark.parametrize(
    "raw, message",
    [
        ('{"id": "a", "text": ', r"line 2: malformed JSON"),
        ("[1, 2]", r"line 2: expected a JSON object"),
        ('{"id": "", "text": "", "masks": []}', r"line 2: 'id' must be a non-empty string"),
        ('{"id": "a", "text": 3, "masks": []}', r"line 2 \(id a\): 'text' must be a string"),
        ('{"id": "a", "text": "t"}', r"line 2 \(id a\): 'masks' must be a list"),
        (
            '{"id": "a", "text": "[SEG]", "masks": [{"size": [10, 10], "counts": "zz"}]}',
            r"line 2 \(id a\): mask 0",
        ),
        (json.dumps({"id": "a", "text": "[SEG] [SEG]", "masks": [A]}), r"1 masks for 2 \[SEG\] tokens"),
        (json.dumps({"id": "a", "text": "[SEG]", "boxes": [[0, 0, 2]]}), r"\(id a\): box 0 \[0, 0, 2\] is not 4"),
        (line("z", "t", []), r"line 2: id z already appeared on line 1"),
        ('{"id": "a", "text": "t", "masks": [], "truncated": 1}', r"\(id a\): 'truncated' must be true or false"),
    ],
)
def test_bad_lines_are_named(raw, message):
    with pytest.raises(ValueError, match=message):
        load_predictions([line("z", "t", []), raw])
