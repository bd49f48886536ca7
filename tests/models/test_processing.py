"""Processing: chat prompt, [SEG] rewriting, mask targets in [SEG] order, padding, bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from model_synth import make_sample
from PIL import Image

from evaluation.masks import decode
from models.prompt import build_target, prompt_variant, user_prompt
from models.tokenizer import IMAGE_PAD

# the authors' inference prompt (V/evaluation/vrt_eval_single.py:90-96 with `<image>` removed), byte for byte
AUTHORS_PROMPT = (
    "\nWhich object holds the cup?\n\nYou should first think about the reasoning process in the mind and then "
    "provides the user with the answer. Please respond with segmentation mask in both the thinking process "
    "and the answer.\n\nThe reasoning process and answer are enclosed within <think> </think> and <answer> "
    "</answer> tags, respectively, i.e., <think> reasoning process here </think> <answer> answers here "
    "</answer>."
)
# the training variant (V/data_loader/vrt_sa1b_80k_train.py:38-41)
AUTHORS_PROMPT_1 = AUTHORS_PROMPT.replace(
    "Please respond with segmentation mask", "Please output the segmentation mask"
)
# a chat template written the way Qwen3-VL's renders a [image, text] user turn without tools or system
QWEN_LIKE_TEMPLATE = (
    "{%- for m in messages %}{{- '<|im_start|>' + m.role + '\\n' }}{%- for c in m.content %}"
    "{%- if c.type == 'image' %}{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif 'text' in c %}{{- c.text }}{%- endif %}{%- endfor %}{{- '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


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
        "<think><ver><obj1> [SEG]</ver> near <ver><obj2> [SEG]</ver>, again <ver><obj1> [SEG]</ver></think>"
        "\n\n<answer><vea><obj2> [SEG]</vea></answer>"
    )
    assert order == ["b", "a", "b", "a"]


def test_target_keeps_wrappers_already_in_the_text():
    sample = {"id": "s", "reasoning": "see <ver><ref:a></ver>", "answer": "<vea> <ref:a> </vea>",
              "reasoning_ids": ["a"], "answer_ids": ["a"]}  # fmt: skip
    assert build_target(sample)[0] == (
        "<think>see <ver><obj1> [SEG]</ver></think>\n\n<answer><vea><obj1> [SEG]</vea></answer>"
    )


def test_user_prompt_is_the_authors_byte_for_byte():
    assert user_prompt("Which object holds the cup?") == AUTHORS_PROMPT
    assert user_prompt("Which object holds the cup?", variant=1) == AUTHORS_PROMPT_1


def test_a_row_without_answer_masks_is_asked_for_masks_in_the_thinking_only(proc):
    """A mask-less answer (the VGR mix-in) is not taught to the prompt that asks for answer masks."""
    only = user_prompt("Which object holds the cup?", answer_masks=False)
    assert only == AUTHORS_PROMPT.replace("in both the thinking process and the answer.", "in the thinking process.")
    assert user_prompt("Which object holds the cup?", variant=1, answer_masks=False) == AUTHORS_PROMPT_1.replace(
        "in both the thinking process and the answer.", "in the thinking process.")
    with_masks, without = make_sample(0, size=96), make_sample(1, size=96)
    without["answer"], without["answer_ids"] = "It is red.", []
    batch = proc.collate([with_masks, without], train=True)
    prompts = []
    for b in range(2):
        first = int((batch["labels"][b] != -100).nonzero()[0])
        prompts.append(proc.tokenizer.decode(batch["input_ids"][b, :first]))
    assert "in both the thinking process and the answer." in prompts[0]
    assert "mask in the thinking process." in prompts[1] and "and the answer." not in prompts[1]


def test_prompt_variants_are_seeded_and_both_used():
    picks = [prompt_variant(f"s{i}", seed=0) for i in range(64)]
    assert picks == [prompt_variant(f"s{i}", seed=0) for i in range(64)]
    assert set(picks) == {0, 1}
    assert picks != [prompt_variant(f"s{i}", seed=1) for i in range(64)]


def test_chat_prompt_is_qwen3vl_user_turn_without_system(proc):
    text = proc.prompt_text("Which object holds the cup?", n_image_tokens=2)
    assert text == (
        "<|im_start|>user\n<|vision_start|><|image_pad|><|image_pad|><|vision_end|>"
        + AUTHORS_PROMPT
        + "<|im_end|>\n<|im_start|>assistant\n"
    )


def test_chat_template_of_the_checkpoint_is_used(proc):
    from dataclasses import replace

    from models.processing import RSa2VAProcessor

    qwen_like = RSa2VAProcessor(proc.tokenizer, replace(proc.settings, chat_template=QWEN_LIKE_TEMPLATE))
    assert qwen_like.prompt_text("Q?", 3) == proc.prompt_text("Q?", 3)
    other = RSa2VAProcessor(proc.tokenizer, replace(proc.settings, chat_template="{{ messages[0].content[1].text }}"
                                                    "<|image_pad|>"))  # fmt: skip
    assert other.prompt_text("Q?", 2) == user_prompt("Q?") + IMAGE_PAD * 2


def test_collate_uses_both_think_prompts(proc):
    samples = [make_sample(i, size=96) for i in range(8)]
    batch = proc.collate(samples, train=True)
    for b, sample in enumerate(samples):
        first = int((batch["labels"][b] != -100).nonzero()[0])
        prompt = proc.tokenizer.decode(batch["input_ids"][b, :first])
        want = (AUTHORS_PROMPT, AUTHORS_PROMPT_1)[prompt_variant(sample["id"], 0)]
        assert want.replace("Which object holds the cup?", sample["question"]) in prompt


def test_target_fallback_without_text():
    text, order = build_target(
        {"id": "s", "reasoning": None, "answer": None, "reasoning_ids": ["x", "y"], "answer_ids": ["y"]}
    )
    assert text == (
        "<think><ver><obj1> [SEG]</ver>, <ver><obj2> [SEG]</ver></think>\n\n<answer><vea><obj2> [SEG]</vea></answer>"
    )
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
        expect = full[np.floor(np.arange(64) * 96 / 64).astype(int)][
            :, np.floor(np.arange(64) * 96 / 64).astype(int)
        ]
        assert torch.equal(
            gt[k].bool(), torch.from_numpy(expect.astype(bool))
        )  # torch 'nearest', as the authors


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
            lambda s: s["objects"][1].update(rle=None, box=None),
            "sample synth-0: object 'o1' has no mask \\(rle\\) and no box .* more \\[SEG\\] than masks",
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
