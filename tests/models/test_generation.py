"""Generation: predict -> parseable traces with one RLE mask per [SEG]; masks_for_sequences; sampling."""

from __future__ import annotations

import io
import json

import pytest
import torch
from model_synth import make_samples
from PIL import Image

from evaluation.masks import decode
from evaluation.predictions import load_predictions
from models.generation import decode_completion, is_truncated
from models.trace import Trace


@pytest.fixture(scope="module")
def images_questions():
    rows = make_samples(3, size=96)
    images = [Image.open(io.BytesIO(r["image"])).convert("RGB") for r in rows]
    images[2] = images[2].resize((112, 80))
    return images, [r["question"] for r in rows]


def test_predict_traces_are_predictions(tiny_model, images_questions):
    images, questions = images_questions
    traces = tiny_model.predict(images, questions, max_new_tokens=12)
    assert len(traces) == 3
    lines = [json.dumps(t.to_prediction(f"s{i}")) for i, t in enumerate(traces)]
    preds = load_predictions(lines)
    assert list(preds) == ["s0", "s1", "s2"]
    assert [preds[f"s{i}"].text for i in range(3)] == [t.text for t in traces]
    for trace in traces:
        assert len(trace.masks) == len(trace.scores) == len(trace.roles) == trace.text.count("[SEG]")
        assert 1 <= len(trace.token_ids) <= 12


def test_masks_for_sequences(tiny_model, images_questions):
    images, questions = images_questions
    tok = tiny_model.processor.tokenizer
    texts = [  # the first ends like a padded rollout: tokens after <|im_end|> are ignored
        "<think>the <obj1> [SEG] and <obj2> [SEG]</think>\n\n<answer><obj1> [SEG]</answer><|im_end|>[SEG]<|endoftext|>",
        "<think>nothing</think><answer>none</answer><|im_end|>",
        "<answer><obj1> [SEG]</answer> trailing [SEG]",
    ]
    completions = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    traces = tiny_model.masks_for_sequences(images, questions, completions)
    assert [t.roles for t in traces] == [("reasoning", "reasoning", "answer"), (), ("answer", "dropped")]
    assert [t.text for t in traces] == [
        texts[0].removesuffix("<|im_end|>[SEG]<|endoftext|>"),
        texts[1].removesuffix("<|im_end|>"),
        texts[2],
    ]
    for trace, image in zip(traces, images):
        for rle in trace.masks:
            assert rle["size"] == [image.height, image.width]
            assert decode(rle).shape == (image.height, image.width)
        assert all(0.0 <= s <= 1.0 for s in trace.scores)
    assert traces[0].token_ids == tuple(completions[0][:-2])


def test_greedy_is_deterministic_and_batched_equals_single(tiny_model, images_questions):
    images, questions = images_questions
    batched = tiny_model.predict(images, questions, max_new_tokens=8)
    single = [tiny_model.predict([im], [q], max_new_tokens=8)[0] for im, q in zip(images, questions)]
    assert [t.token_ids for t in batched] == [t.token_ids for t in single]


def test_sampling_is_seeded(tiny_model, images_questions):
    images, questions = images_questions
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        runs.append(
            tiny_model.predict(
                images[:2], questions[:2], max_new_tokens=8, do_sample=True, temperature=1.2, top_p=0.9
            )
        )
    assert [t.token_ids for t in runs[0]] == [t.token_ids for t in runs[1]]
    greedy = tiny_model.predict(images[:2], questions[:2], max_new_tokens=8)
    assert [t.token_ids for t in runs[0]] != [t.token_ids for t in greedy]


def test_literal_seg_text_is_not_a_mask(tiny_model):
    proc = tiny_model.processor
    ids = (
        proc.tokenizer("[", add_special_tokens=False)["input_ids"]
        + proc.tokenizer("SEG] x", add_special_tokens=False)["input_ids"]
        + [proc.seg_token_id, proc.eos_token_id]
    )
    assert decode_completion(proc.tokenizer, ids, proc.seg_token_id, proc.eos_token_id) == "[SEG ] x[SEG]"


def test_trace_counts_must_agree():
    with pytest.raises(ValueError, match=r"trace has 1 \[SEG\] but 1 roles, 0 masks, 0 scores"):
        Trace.build("<answer>a [SEG]</answer>", [], [], [])


def test_bad_predict_arguments(tiny_model):
    with pytest.raises(ValueError, match="got 1 images but 2 questions"):
        tiny_model.predict([Image.new("RGB", (64, 64))], ["a", "b"])
    with pytest.raises(ValueError, match="max_new_tokens must be positive"):
        tiny_model.predict([Image.new("RGB", (64, 64))], ["a"], max_new_tokens=-1)


@pytest.mark.parametrize(
    ("ids", "text", "budget", "want"),
    [
        ([5, 6, 7], "<think>a</think><answer>b", 3, True),  # budget spent, </answer> never closed
        ([5, 6, 7], "<think>a</think><answer>b</answer> and on", 3, False),  # closed, then rambled
        ([5, 6, 2], "<think>a</think>", 3, False),  # ended with the end token (2) on the last step
        ([5, 6], "<think>a", 3, False),  # stopped before the budget
    ],
)
def test_truncated_traces(ids, text, budget, want):
    assert is_truncated(ids, text, budget, eos_id=2) is want


def test_predict_marks_truncation_and_uses_the_preset_budget(tiny_model, images_questions, monkeypatch):
    images, questions = images_questions
    seen = []
    original = tiny_model.vlm.generate

    def recording(**kw):
        seen.append(kw["max_new_tokens"])
        return original(**kw)

    monkeypatch.setattr(tiny_model.vlm, "generate", recording)
    traces = tiny_model.predict(images[:1], questions[:1], max_new_tokens=3)
    assert seen == [3]
    assert traces[0].truncated is (len(traces[0].token_ids) == 3 and "</answer>" not in traces[0].text)
    assert traces[0].to_prediction("s")["truncated"] is traces[0].truncated
    monkeypatch.setattr(tiny_model, "generate_ids", lambda *a, **k: seen.append(a[2]) or [[]])
    tiny_model.predict(images[:1], questions[:1])
    assert seen[-1] == 0  # 0 = the preset's budget, resolved in generate_ids
    assert tiny_model.preset.max_new_tokens == 256


def test_masks_for_sequences_low_res_are_the_decoders_logits_above_zero(tiny_model, images_questions):
    images, questions = images_questions
    tok = tiny_model.processor.tokenizer
    ids = [tok("<answer><obj1> [SEG]</answer>", add_special_tokens=False)["input_ids"]]
    (low,) = tiny_model.masks_for_sequences(images[:1], questions[:1], ids, low_res=True)
    batch = tiny_model.processor.sequence_batch(images[:1], questions[:1], ids)
    inputs = tiny_model._to_device(batch)
    with torch.no_grad():
        out = tiny_model.vlm(**inputs, output_hidden_states=True, use_cache=False)
        logits, _ = tiny_model.seg_masks(inputs["input_ids"], out.hidden_states[-1], batch["sam_pixel_values"])
    side = tiny_model.processor.settings.sam_image_size // 4  # SAM 2's low-res masks: a quarter of its input
    assert logits[0].shape[-2:] == (side, side)
    assert low.masks[0]["size"] == [side, side]
    assert (decode(low.masks[0]) == (logits[0][0] > 0).numpy()).all()
