"""VRT-Bench metrics: case tables with hand-computed expected values."""

import pytest
from eval_cases import A_SHIFT, G20, HALF_G20, A, B, C, D, H, W, box, line

from evaluation.predictions import load_predictions
from evaluation.vrt_bench import VRTGroundTruth, score_vrt

ONES = {"R-LQ": 1.0, "R-SQ": 1.0, "A-mIoU": 1.0, "A-LQ": 1.0, "A-SQ": 1.0}
ZEROS = {"R-LQ": 0.0, "R-SQ": 0.0, "A-mIoU": 0.0, "A-LQ": 0.0, "A-SQ": 0.0}
TRACE3 = "<think>x [SEG] y [SEG]</think><answer>z [SEG]</answer>"


def gt(sample_id="s1", reasoning=(A, B), answer=(B,), classes=("#visf",)):
    return VRTGroundTruth(sample_id, H, W, tuple(reasoning), tuple(answer), tuple(classes))


CASES = {
    "perfect": ([gt()], [line("s1", TRACE3, [A, B, B])], ONES),
    "order swapped, recovered by Hungarian": ([gt()], [line("s1", TRACE3, [B, A, B])], ONES),
    "extra masks not penalised": (
        [gt()],
        [line("s1", "<think>[SEG][SEG][SEG][SEG]</think><answer>[SEG][SEG]</answer>", [C, B, D, A, B, C])],
        ONES,
    ),
    "no answer span: zeros": ([gt()], [line("s1", "<think>[SEG][SEG]</think> [SEG]", [A, B, B])], ZEROS),
    "masks after the answer dropped": (
        [gt()],
        [line("s1", "<think>[SEG]</think><answer>none</answer> [SEG] [SEG]", [A, B, B])],
        {"R-LQ": 0.5, "R-SQ": 1.0, "A-mIoU": 0.0, "A-LQ": 0.0, "A-SQ": 0.0},
    ),
    "IoU exactly 0.5 is not > 0.5": (
        [gt(reasoning=(G20,), answer=(G20,))],
        [line("s1", "<think>[SEG]</think><answer>[SEG]</answer>", [HALF_G20, HALF_G20])],
        {"R-LQ": 0.0, "R-SQ": 0.0, "A-mIoU": 0.5, "A-LQ": 0.0, "A-SQ": 0.0},
    ),
    "partial IoU above threshold": (
        [gt(reasoning=(A, B), answer=(A,))],
        [line("s1", "<think>[SEG][SEG]</think><answer>[SEG]</answer>", [A_SHIFT, C, A_SHIFT])],
        {"R-LQ": 0.5, "R-SQ": 0.8, "A-mIoU": 0.8, "A-LQ": 1.0, "A-SQ": 0.8},
    ),
    "missing prediction scores as empty": ([gt()], [], ZEROS),
}


@pytest.mark.parametrize("name", CASES)
def test_case_table(name):
    gts, lines, expected = CASES[name]
    result = score_vrt(gts, load_predictions(lines))
    assert result.metrics == pytest.approx(expected)


def test_pooled_average_differs_from_per_sample_average():
    gts = [
        gt("s1", reasoning=(), answer=(A,)),
        gt("s2", reasoning=(), answer=(A, B, C), classes=("#visf", "#loc")),
    ]
    lines = [
        line("s1", "<think>t</think><answer>[SEG]</answer>", [A_SHIFT]),
        line("s2", "<think>t</think><answer>[SEG]</answer>", [A]),
    ]
    result = score_vrt(gts, load_predictions(lines))
    per_sample = (0.8 + 1 / 3) / 2
    assert result.metrics["A-mIoU"] == pytest.approx(1.8 / 4)
    assert result.metrics["A-mIoU"] != pytest.approx(per_sample)
    assert result.metrics["R-LQ"] is None and result.metrics["R-SQ"] is None
    assert result.by_class["#visf"]["A-mIoU"] == pytest.approx(0.45)
    assert result.by_class["#visf"]["samples"] == 2
    assert result.by_class["#loc"]["A-mIoU"] == pytest.approx(1 / 3)
    assert result.by_class["#loc"]["A-LQ"] == pytest.approx(1 / 3)
    assert result.by_class["#comp"] == {
        "R-LQ": None,
        "R-SQ": None,
        "A-mIoU": None,
        "A-LQ": None,
        "A-SQ": None,
        "samples": 0,
    }


def test_counts():
    gts = [gt("s1"), gt("s2"), gt("s3")]
    lines = [line("s1", TRACE3 + " [SEG]", [A, B, B, C]), line("s2", "no tags [SEG]", [A])]
    result = score_vrt(gts, load_predictions(lines))
    assert result.counts == {
        "samples": 3,
        "gt_reasoning_objects": 6,
        "gt_answer_objects": 3,
        "missing_predictions": 1,
        "predictions_without_answer_span": 1,
        "predicted_reasoning_masks": 2,
        "predicted_answer_masks": 1,
        "dropped_masks": 2,
    }
    assert result.metrics["R-LQ"] == pytest.approx(2 / 6)
    assert [s.id for s in result.samples] == ["s1", "s2", "s3"]
    assert result.samples[0].reasoning_pairs == ((0, 0), (1, 1))
    assert result.samples[0].answer_pairs == ((2, 0),)


def test_unknown_ids_listed_up_to_ten():
    lines = [line(f"x{i:02d}", "t", []) for i in range(12)]
    with pytest.raises(ValueError) as e:
        score_vrt([gt()], load_predictions(lines))
    msg = str(e.value)
    assert "12 prediction id(s) are not in the dataset" in msg
    assert "x09" in msg and "x10" not in msg and "(12 in all)" in msg


def test_mask_size_mismatch_names_sample():
    wrong = box(0, 2, 0, 2, h=5, w=5)
    with pytest.raises(ValueError, match=r"sample s1 \(predictions line 1\): mask 0 has size \[5, 5\]"):
        score_vrt([gt()], load_predictions([line("s1", "<answer>[SEG]</answer>", [wrong])]))
