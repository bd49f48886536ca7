"""ReasonSeg gIoU / cIoU with the empty and ignore rules under each option."""

import pytest
from eval_cases import A_SHIFT, EMPTY, A, B, H, W, box, line

from evaluation import masks
from evaluation.predictions import load_predictions
from evaluation.reasonseg import ReasonSegGroundTruth, ReasonSegOptions, score_reasonseg

ANS1 = "<think>t</think><answer>[SEG]</answer>"
IGNORE = box(0, 5, 5, 7)  # 10 px beside A


def gt(sample_id, mask, ignore=None):
    return ReasonSegGroundTruth(sample_id, H, W, mask, ignore)


def score(gts, lines, **options):
    return score_reasonseg(gts, load_predictions(lines), ReasonSegOptions(**options))


CASES = {
    "perfect": ([gt("s1", A)], [line("s1", ANS1, [A])], {}, 1.0, 1.0),
    "partial: gIoU is the mean, cIoU the ratio of sums": (
        [gt("s1", A), gt("s2", A)],
        [line("s1", ANS1, [A_SHIFT]), line("s2", ANS1, [B])],
        {},
        0.4,
        20 / 75,
    ),
    "answer masks OR'd, reasoning masks ignored": (
        [gt("s1", masks.union([A, B]))],
        [line("s1", "<think>[SEG]</think><answer>[SEG] and [SEG]</answer>", [B, A, B])],
        {},
        1.0,
        1.0,
    ),
    "no answer span scores 0": ([gt("s1", A)], [line("s1", "<think>[SEG]</think>", [A])], {}, 0.0, 0.0),
    "empty GT, empty prediction, rule one": (
        [gt("s1", A), gt("s2", EMPTY)],
        [line("s1", ANS1, [A_SHIFT]), line("s2", "<answer>nothing</answer>", [])],
        {"empty": "one"},
        0.9,
        0.8,
    ),
    "empty GT, empty prediction, rule drop": (
        [gt("s1", A), gt("s2", EMPTY)],
        [line("s1", ANS1, [A_SHIFT]), line("s2", "<answer>nothing</answer>", [])],
        {"empty": "drop"},
        0.8,
        0.8,
    ),
    "empty GT, non-empty prediction scores 0": ([gt("s1", EMPTY)], [line("s1", ANS1, [A])], {}, 0.0, 0.0),
    "ignore region as foreground": (
        [gt("s1", A, IGNORE)],
        [line("s1", ANS1, [A])],
        {"ignore": "foreground"},
        25 / 35,
        25 / 35,
    ),
    "ignore region excluded": (
        [gt("s1", A, IGNORE)],
        [line("s1", ANS1, [A])],
        {"ignore": "exclude"},
        1.0,
        1.0,
    ),
    "prediction over the ignore region, excluded": (
        [gt("s1", A, IGNORE)],
        [line("s1", ANS1, [box(0, 5, 0, 7)])],
        {"ignore": "exclude"},
        1.0,
        1.0,
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_case_table(name):
    gts, lines, options, giou, ciou = CASES[name]
    result = score(gts, lines, **options)
    assert result.metrics["gIoU"] == pytest.approx(giou)
    assert result.metrics["cIoU"] == pytest.approx(ciou)


def test_rule_counts():
    gts = [gt("s1", A), gt("s2", EMPTY), gt("s3", A, IGNORE), gt("s4", A)]
    lines = [line("s2", "<answer>none</answer>", []), line("s3", "no span [SEG]", [A])]
    one = score(gts, lines)
    assert one.counts == {
        "samples": 4,
        "scored_samples": 4,
        "missing_predictions": 2,
        "predictions_without_answer_span": 1,
        "empty_rule_samples": 1,
        "ignore_rule_samples": 1,
    }
    assert one.metrics == pytest.approx({"gIoU": 0.25, "cIoU": 0.0})
    drop = score(gts, lines, empty="drop", ignore="exclude")
    assert drop.counts["scored_samples"] == 3 and drop.counts["empty_rule_samples"] == 1
    assert drop.metrics == pytest.approx({"gIoU": 0.0, "cIoU": 0.0})


def test_all_dropped_is_undefined():
    result = score([gt("s1", EMPTY)], [], empty="drop")
    assert result.metrics == {"gIoU": None, "cIoU": None}


@pytest.mark.parametrize(
    "options, message", [({"empty": "zero"}, "empty rule"), ({"ignore": "x"}, "ignore rule")]
)
def test_unknown_options(options, message):
    with pytest.raises(ValueError, match=message):
        ReasonSegOptions(**options)
