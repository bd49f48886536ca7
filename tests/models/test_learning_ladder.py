"""The low rungs of benchmarks/learning.py as tests: the tiny preset learns masks (fixed seeds).

Thresholds come from measured runs of the same settings (docs/learning.md); each sits well above
the untrained model (held-out IoU ~0.03) and below what the runs reached.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from benchmarks.learning import Run, all_shapes_iou, binding, rung1, rung2, rung2_names, scenes
from models import load_preset
from vrt.data.synth.scene import Scene, Shape

# rung 1, 120 steps (warm-up, then cosine to 0 at step 120, as SFT): measured by this test's exact settings,
# untrained 0.050 -> 0.174 (the constant-lr curve sat on a 0.095 dip at step 60, hence 120 steps)
RUNG1_STEPS, RUNG1_MEASURED, RUNG1_THRESHOLD = 120, 0.174, 0.12
# rung 2, 200 steps, seed 1, one learning rate, the preset's seg_norm: measured by this test's exact settings,
# untrained 0.017 -> 0.346 (0.326 at step 100), all shapes 0.209, CE 0.030. Above the all-shapes level means the
# [SEG] mask follows the named object, not every shape: the binding (docs/learning.md).
RUNG2_STEPS, RUNG2_MEASURED, RUNG2_THRESHOLD, RUNG2_CE = 200, 0.346, 0.28, 0.3
# rung 2 with learned name prompts in place of the [SEG] state, 300 steps: measured by this test's exact settings
# (pytest's two threads), 0.022 -> 0.345; all shapes 0.212
NAMES_STEPS, NAMES_MEASURED, NAMES_THRESHOLD = 300, 0.345, 0.26


@pytest.mark.slow
def test_rung1_sam_learns_box_prompted_masks():
    result = rung1(Run(load_preset("tiny"), steps=RUNG1_STEPS, n_train=240, n_held=24, eval_every=RUNG1_STEPS))
    (_, before), (_, after) = result["curve"][0], result["curve"][-1]
    print(f"rung 1: held-out IoU {before:.3f} -> {after:.3f}")
    assert before < 0.1
    assert after > RUNG1_THRESHOLD, f"held-out IoU {before:.3f} -> {after:.3f}"
    assert result["box_fill"] > 0.7  # the reference the decoder should eventually beat


@pytest.mark.slow
def test_rung2_seg_path_binds_the_named_object():
    run = Run(load_preset("tiny"), steps=RUNG2_STEPS, n_held=24, seed=1, eval_every=RUNG2_STEPS)
    result = rung2(run)
    (_, before), (_, after) = result["curve"][0], result["curve"][-1]
    every = all_shapes_iou(scenes(run.seed + 1000, run.n_held, run.image_size))
    print(f"rung 2: held-out IoU {before:.3f} -> {after:.3f} (all shapes {every:.3f}), CE {result['ce']:.3f}")
    assert before < every
    assert after > RUNG2_THRESHOLD > every + 0.05, f"held-out IoU {before:.3f} -> {after:.3f}"
    assert result["ce"] < RUNG2_CE  # untrained ~9


@pytest.mark.slow
def test_decoder_selects_the_named_object_from_an_informative_prompt():
    """The decoder side of the binding: given a prompt that names the object, SAM 2 learns to mask that
    object and not every shape (the all-shapes level), so the decoder is not what limits rung 2."""
    run = Run(load_preset("tiny"), steps=NAMES_STEPS, n_held=24, eval_every=NAMES_STEPS)
    result = rung2_names(run)
    (_, before), (_, after) = result["curve"][0], result["curve"][-1]
    everything = all_shapes_iou(scenes(run.seed + 1000, run.n_held, run.image_size))
    print(f"rung 2, name prompts: held-out IoU {before:.3f} -> {after:.3f} (all shapes {everything:.3f})")
    assert before < 0.1
    assert after > NAMES_THRESHOLD > everything, f"held-out IoU {before:.3f} -> {after:.3f}"


def _shape(colour: str, kind: str, cols: slice) -> Shape:
    mask = np.zeros((4, 8), bool)
    mask[:, cols] = True
    return Shape(colour, kind, mask, (cols.start, 0, cols.stop, 4))


@pytest.mark.parametrize(
    ("cols", "expected"),
    [
        # the mask covers exactly the named yellow triangle (columns 0-1)
        (slice(0, 2), {"named": 1.0, "same colour": 0.5, "same shape": 0.5, "every shape": 1 / 3}),
        # both yellow shapes: the colour is followed, the shape kind is not
        (slice(0, 4), {"named": 0.5, "same colour": 1.0, "same shape": 1 / 3, "every shape": 2 / 3}),
        # every shape
        (slice(0, 6), {"named": 1 / 3, "same colour": 2 / 3, "same shape": 2 / 3, "every shape": 1.0}),
    ],
)
def test_binding_says_which_part_of_the_name_a_mask_follows(cols: slice, expected: dict) -> None:
    scene = Scene(8, [_shape("yellow", "triangle", slice(0, 2)), _shape("yellow", "square", slice(2, 4)),
                      _shape("red", "triangle", slice(4, 6))])
    mask = np.zeros((4, 8), bool)
    mask[:, cols] = True
    got = binding([mask], [{"answer_ids": ["o0"]}], [scene])
    assert got == pytest.approx(expected)


@pytest.mark.parametrize(
    ("points", "labels", "expected"),
    [
        # two tight, well-separated classes: every point's nearest other-class mean is farther
        ([[0, 0], [0, 1], [10, 0], [10, 1]], ["red", "red", "blue", "blue"], 1.0),
        # red at the ends, blue in the middle: each point left out lies nearer the other class's mean
        ([[0], [3], [1], [2]], ["red", "red", "blue", "blue"], 0.0),
        # a class seen once cannot be predicted for that sample (its mean without it is empty)
        ([[0, 0], [0, 1], [10, 0]], ["red", "red", "blue"], 2 / 3),
    ],
)
def test_centroid_accuracy_is_leave_one_out(points: list, labels: list, expected: float) -> None:
    from benchmarks.fit_figures import centroid_accuracy

    assert centroid_accuracy(np.array(points, float), labels) == pytest.approx(expected)


def test_seg_captions_follow_the_seg_order() -> None:
    """Each mention gets its own [SEG], reasoning first, then the answer (models.prompt.build_target)."""
    from benchmarks.fit_figures import seg_captions

    row = {"id": "s", "question": "q", "reasoning": "First <ref:obj2>, then <ref:obj1>.", "answer": "It is <ref:obj2>.",
           "objects": [{"id": "obj1", "caption": "a blue square"}, {"id": "obj2", "caption": "a red circle"}],
           "reasoning_ids": ["obj2", "obj1"], "answer_ids": ["obj2"]}
    assert seg_captions(row) == [["a", "red", "circle"], ["a", "blue", "square"], ["a", "red", "circle"]]


@pytest.mark.parametrize(
    ("text", "right"),
    [
        ("<think>...</think>\n\n<answer>It is red: the red circle <vea><obj2> [SEG]</vea>.</answer>", True),
        ("<answer>it is  red : the red circle</answer>", True),  # case, spaces, no full stop
        ("<answer>It is red: the red circle <vea><obj2> [SEG]</vea>.", True),  # cut at the token budget
        ("<answer>It is blue: the blue circle <vea><obj2> [SEG]</vea>.</answer>", False),
        ("<answer>It is red: the red circle and more.</answer>", False),
        ("It is red: the red circle <ref:obj2>.", False),  # no answer span
        ("<answer>wrong</answer> then <answer>It is red: the red circle.</answer>", True),  # the last span
    ],
)
def test_answers_right_compares_the_answer_span_word_for_word(text: str, right: bool) -> None:
    from benchmarks.fit_figures import answers_right

    row = {"id": "a", "answer": "It is red: the red circle <ref:obj2>."}
    assert answers_right({"a": text}, [row]) == float(right)
    assert answers_right({}, [row]) == 0.0  # no prediction for the row
    assert answers_right({"a": text}, []) == 0.0
    # a row without an answer text (the pool layout) is not counted
    assert answers_right({"a": text}, [row, {"id": "b", "answer": None}]) == float(right)


def test_teacher_forced_iou_splits_the_seg_masks_by_whether_their_colour_is_unique() -> None:
    """Each row: 5 objects, colours cycling over 4 (the first and the fifth share one); the reasoning names all
    5, the answer the first: 3 [SEG]s of a unique colour and 3 of a shared one per row."""
    import math

    from model_synth import make_samples

    from benchmarks.fit_figures import teacher_forced_iou
    from models import RSa2VA

    model = RSa2VA.from_preset(load_preset("tiny"), seed=0).eval()
    out = teacher_forced_iou(model, make_samples(2, n_objects=5))
    assert out["all"] == pytest.approx((out["colour unique"] + out["colour shared"]) / 2)
    assert 0.0 <= out["colour unique"] <= 1.0 and 0.0 <= out["colour shared"] <= 1.0
    single = teacher_forced_iou(model, make_samples(1, n_objects=2))  # two colours: none shared
    assert math.isnan(single["colour shared"]) and single["all"] == single["colour unique"]


@pytest.mark.slow
def test_rung3_starts_from_a_given_sft_model(tmp_path, capsys):
    """`--sft-model DIR` skips rung 3's SFT and scores that model on the generated bench (e.g. the demo's
    model, before GRPO is studied on it)."""
    from benchmarks.fit_figures import free_running
    from benchmarks.learning import main
    from models import RSa2VA
    from vrt.data.reader import read_table

    model = RSa2VA.from_preset(load_preset("tiny"), seed=0).save_pretrained(tmp_path / "model")
    work = tmp_path / "work"
    main(["--rung", "3", "--n-train", "2", "--n-bench", "2", "--sft-model", str(model), "--work", str(work)])
    out = capsys.readouterr().out
    assert re.search(r"rung 3 \(SFT, 2 training rows\): teacher-forced \[SEG\] mask IoU [01]\.\d{3} \(colour unique "
                     r"in the scene ([01]\.\d{3}|nan), shared ([01]\.\d{3}|nan)\); free-running R-LQ \d+\.\d", out)
    assert re.search(r"rung 3 \(SFT\) \[SEG\] prompts: colour read \d+ % \(most frequent \d+ %\), shape \d+ % "
                     r"\(\d+ %\); the masks of one row differ on \d+\.\d % of the pixels", out)
    # an untrained model writes no answer span: no answer is right
    assert re.search(r"rung 3 \(SFT, free-running bench\): R-LQ \d+\.\d  R-SQ \d+\.\d  A-mIoU \d+\.\d; "
                     r"answers right 0 %", out)
    assert not (work / "sft").exists()  # no SFT ran
    metrics = json.loads((work / "eval-sft" / "metrics.json").read_text())
    assert metrics["counts"]["samples"] == 2
    # the training rows' free-running figures score as `vrt eval run` does: on the bench, its metrics
    bench = read_table(str(work / "data" / "bench"))[1].to_pylist()
    fit = free_running(RSa2VA.from_pretrained(model).eval(), work / "data" / "bench", bench)
    assert fit.pop("answers right") == 0.0
    assert fit == metrics["metrics"]


@pytest.mark.slow
def test_rung3_grpo_scores_the_training_rows_before_and_after(tmp_path, capsys, monkeypatch):
    """With --grpo, the training rows GRPO trains on are answered and scored again after it: a fixed set.
    The ladder tracks in its work folder's own store even where MLFLOW_TRACKING_URI names another."""
    from benchmarks.learning import main
    from models import RSa2VA

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    model = RSa2VA.from_preset(load_preset("tiny"), seed=0).save_pretrained(tmp_path / "model")
    work = tmp_path / "work"
    main(["--rung", "3", "--n-train", "2", "--n-bench", "2", "--sft-model", str(model), "--fit-rows", "2",
          "--grpo", "--grpo-set", "grpo.max_steps=1", "--grpo-set", "grpo.max_new_tokens=16", "--work", str(work)])
    out = capsys.readouterr().out
    for stage in ("SFT", "GRPO"):
        assert re.search(rf"rung 3 \({stage}, 2 training rows\): teacher-forced \[SEG\] mask IoU [01]\.\d{{3}} "
                         r"\(colour unique in the scene ([01]\.\d{3}|nan), shared ([01]\.\d{3}|nan)\); "
                         r"free-running R-LQ \d+\.\d  R-SQ \d+\.\d  A-mIoU \d+\.\d; answers right 0 %", out)
    assert "rung 3 GRPO vrt_answer_iou by step: " in out
    # an untrained model writes no answer span: every A-mIoU is 0, before and after
    assert "GRPO effect on the training rows' A-mIoU: +0.0 points" in out


def test_rung3_refuses_negative_fit_rows(capsys):
    from benchmarks.learning import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--rung", "3", "--fit-rows", "-1"])
    assert exit_info.value.code == 2
    assert "--fit-rows must be >= 0 (0 skips the training-row figures), got -1" in capsys.readouterr().err


def test_rung3_refuses_a_folder_without_a_model(tmp_path, capsys):
    from benchmarks.learning import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--rung", "3", "--sft-model", str(tmp_path)])
    assert exit_info.value.code == 2
    assert f"--sft-model {tmp_path}: not a model directory (no config.json)" in capsys.readouterr().err
