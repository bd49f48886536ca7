"""Processing: chat prompt, [SEG] rewriting, mask targets in [SEG] order, padding, bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from model_synth import make_sample
from PIL import Image

from evaluation.masks import decode
from models.prompt import build_target


@pytest.fixture(scope="module")
def proc(tiny_model):
    return tiny_model.processor


def test_target_renumbers_and_repeats():
    sample = {
        "id": "s",
        "reasoning": "<ref:b> near <ref:a>, again <ref:b>",
        "answer": "<ref:a>",
        "reasoning_ids": ["b", "a"],
        "answer_ids": ["a"],
    }
    text, order = build_target(sample)
    assert text == (
        "<think><obj1> [SEG] near <obj2> [SEG], again <obj1> [SEG]</think>\n\n<answer><obj2> [SEG]</answer>"
    )
    assert order == ["b", "a", "b", "a"]


def test_target_fallback_without_text():
    text, order = build_target(
        {"id": "s", "reasoning": None, "answer": None, "reasoning_ids": ["x", "y"], "answer_ids": ["y"]}
    )
    assert text == "<think><obj1> [SEG], <obj2> [SEG]</think>\n\n<answer><obj2> [SEG]</answer>"
    assert order == ["x", "y", "y"]


def test_collate_train(proc, samples):
    batch = proc.collate(samples, train=True)
    ids, labels = batch["input_ids"], batch["labels"]
    assert ids.shape == labels.shape == batch["attention_mask"].shape
    assert batch["image_grid_thw"].tolist() == [[1, 6, 6], [1, 6, 6]]  # 96 px -> 6x6 patches of 16
    assert batch["pixel_values"].shape == (72, 3 * 2 * 16 * 16)
    assert batch["sam_pixel_values"].shape == (2, 3, 128, 128)
    assert int((ids == proc.image_token_id).sum()) == 2 * 9  # 6x6 patches merged 2x2
    seg = proc.seg_token_id
    for b, sample in enumerate(samples):
        assert int((ids[b] == seg).sum()) == batch["gt_masks"][b].shape[0] == 3  # 2 reasoning + 1 answer
        assert int((labels[b] == seg).sum()) == 3
        first = int((labels[b] != -100).nonzero()[0])
        assert ids[b, :first].tolist().count(seg) == 0  # no [SEG] in the prompt
        assert proc.tokenizer.decode(ids[b, first : first + 3]) == "<think>I see"
    assert batch["attention_mask"][0, -1] == 1 or batch["attention_mask"][1, -1] == 1  # right padding


def test_mask_targets_in_seg_order(proc):
    sample = make_sample(3, size=96)
    batch = proc.collate([sample], train=True)
    gt = batch["gt_masks"][0]
    order = ["o0", "o1", "o0"]  # reasoning o0, o1; answer o0
    for k, obj in enumerate(order):
        rle = next(o["rle"] for o in sample["objects"] if o["id"] == obj)
        full = decode({"size": [96, 96], "counts": rle})
        expect = (
            np.asarray(Image.fromarray(full.astype(np.uint8) * 255).resize((64, 64), Image.NEAREST)) > 127
        )
        assert torch.equal(gt[k].bool(), torch.from_numpy(expect))


def test_prompt_batch_left_padded(proc):
    images = [Image.new("RGB", (96, 96)), Image.new("RGB", (64, 128))]
    batch = proc.prompt_batch(images, ["short?", "a much longer question about many things?"])
    assert batch["attention_mask"][:, -1].tolist() == [1, 1]
    assert batch["attention_mask"][0, 0] == 0
    assert batch["image_sizes"] == [(96, 96), (128, 64)]
    assert batch["image_grid_thw"].tolist() == [[1, 6, 6], [1, 8, 4]]


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s: s.update(image=b""), "sample synth-0: image bytes are empty"),
        (
            lambda s: s.update(image=_png(Image.new("L", (96, 96)))),
            "sample synth-0: image mode is L, not RGB",
        ),
        (
            lambda s: s.update(image=_png(Image.new("RGB", (1100, 20)))),
            "sample synth-0: image is 1100x20, larger than the preset's limit of 1024 px",
        ),
        (
            lambda s: s.update(reasoning="no refs", answer="none"),
            "sample synth-0: has reasoning/answer objects but",
        ),
        (
            lambda s: s["objects"][1].update(rle=None),
            "sample synth-0: object 'o1' has no mask .* more \\[SEG\\] than masks",
        ),
        (lambda s: s.update(answer="<ref:zz>"), "sample synth-0: text references object 'zz', absent"),
        (lambda s: s.update(question=""), "sample synth-0: the question is empty"),
        (lambda s: s.update(answer="x [SEG]"), "sample synth-0: text contains a literal \\[SEG\\]"),
    ],
)
def test_bad_samples(proc, mutate, message):
    sample = make_sample(0, size=96)
    mutate(sample)
    with pytest.raises(ValueError, match=message):
        proc.collate([sample], train=True)


def test_empty_pil_image(proc):
    with pytest.raises(ValueError, match=r"sample 0: image is empty \(0x0\)"):
        proc.prompt_batch([Image.new("RGB", (0, 0))], ["q?"])
