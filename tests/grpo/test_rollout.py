"""Rollout engines on the tiny model: seeded HF sampling, masks from the policy's teacher-forced pass,
and the LoRA-merged weights the vLLM engine loads (checked against a plain Qwen3-VL on CPU)."""

from __future__ import annotations

import dataclasses
import io

import pytest
import torch
from PIL import Image

from components.grpo.hf_engine import HFGenerateEngine
from components.grpo.rollout import SamplingSettings, collect_rollouts, make_rollout_engine
from components.grpo.vllm_engine import merged_vlm_state


@pytest.fixture(scope="module")
def tiny():
    from models import RSa2VA, load_preset

    return RSa2VA.from_preset(load_preset("tiny"), seed=0)


@pytest.fixture
def prompts():
    images = [Image.new("RGB", (64, 64), (200, 30, 30)), Image.new("RGB", (96, 64), (30, 30, 200))]
    return images, ["Which object is red?", "Which object is blue?"]


def test_hf_engine_is_seeded_and_leaves_the_callers_rng_alone(tiny, prompts):
    engine = make_rollout_engine("hf", tiny)
    assert isinstance(engine, HFGenerateEngine)
    settings = SamplingSettings(n=3, temperature=1.2, top_p=0.9, max_new_tokens=5, seed=7)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = engine.generate(*prompts, settings)
    assert torch.equal(torch.get_rng_state(), state)
    b = engine.generate(*prompts, settings)
    c = engine.generate(*prompts, dataclasses.replace(settings, seed=8))
    assert len(a) == 6 and all(1 <= len(ids) <= 5 for ids in a)
    assert a == b and a != c
    assert tiny.training  # generation switched to eval and back


class FixedEngine:
    """Returns given completions (stands in for a generator so the mask path sees known [SEG]s)."""

    name = "fixed"

    def __init__(self, ids):
        self.ids = ids

    def generate(self, images, questions, settings):
        return [list(x) for x in self.ids]

    def sync(self, policy):
        pass

    def close(self):
        pass


def test_masks_come_from_the_policy_for_every_seg(tiny, prompts):
    tok, proc = tiny.processor.tokenizer, tiny.processor
    text = "<think>a [SEG]</think><answer>b [SEG]</answer>"
    ids = tok(text, add_special_tokens=False)["input_ids"] + [proc.eos_token_id]
    plain = tok("<answer>none</answer>", add_special_tokens=False)["input_ids"]
    settings = SamplingSettings(n=2, temperature=1.0, top_p=1.0, max_new_tokens=32)
    batch = collect_rollouts(FixedEngine([ids, plain, ids, ids]), tiny, *prompts, settings)
    assert [t.text for t in batch.traces] == [text, "<answer>none</answer>", text, text]
    both = ("reasoning", "answer")
    assert [t.roles for t in batch.traces] == [both, (), both, both]
    # the decoder's low-res masks (SAM input 128 -> 32x32), what the authors' reward compares
    assert [m["size"] for m in batch.traces[0].masks] == [[32, 32], [32, 32]]
    for k, image in ((0, 0), (3, 1)):  # prompt-major: rollout 3 is image 2's
        (direct,) = tiny.masks_for_sequences([prompts[0][image]], [prompts[1][image]], [ids], low_res=True)
        assert batch.traces[k].masks == direct.masks  # eval mode inside: seg_norm's running statistics
    assert tiny.training  # masks_for_sequences restores the caller's mode
    assert batch.tokens == 3 * len(ids) + len(plain) and batch.tokens_per_s > 0
    with pytest.raises(RuntimeError, match="returned 1 completions for 2x2"):
        collect_rollouts(FixedEngine([ids]), tiny, *prompts, settings)


def test_bad_sampling_settings_and_engine_name(tiny):
    with pytest.raises(ValueError, match="bad sampling settings"):
        SamplingSettings(n=0, temperature=1.0, top_p=1.0, max_new_tokens=4)
    with pytest.raises(ValueError, match="unknown rollout engine 'sglang': use hf or vllm"):
        make_rollout_engine("sglang", tiny)


def test_merged_lora_weights_reproduce_the_adapted_model():
    from transformers import Qwen3VLForConditionalGeneration

    from models import RSa2VA, load_preset
    from models.config import LoraPolicy

    preset = load_preset("tiny")
    preset = dataclasses.replace(
        preset, policy=dataclasses.replace(preset.policy, lora=LoraPolicy(r=4, alpha=8, dropout=0.0))
    )
    model = RSa2VA.from_preset(preset, seed=0).eval()
    with torch.no_grad():
        for name, p in model.vlm.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    merged = merged_vlm_state(model.vlm)
    assert not any("lora_" in k or "base_layer" in k for k in merged)
    plain = Qwen3VLForConditionalGeneration(model.vlm.config).eval()
    missing, unexpected = plain.load_state_dict(merged, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}  # tied to the embeddings
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, format="PNG")
    batch = model.processor.prompt_batch([Image.open(buf).convert("RGB")], ["What is here?"])
    keys = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")
    with torch.no_grad():
        want = model.vlm(**{k: batch[k] for k in keys}).logits
        got = plain(**{k: batch[k] for k in keys}).logits
    assert torch.allclose(want, got, atol=1e-4)
    unmerged = {
        k.replace(".base_layer.", "."): v for k, v in model.vlm.state_dict().items() if "lora_" not in k
    }
    assert any(not torch.equal(merged[k], unmerged[k]) for k in merged)  # the deltas are really added


def test_vllm_export_is_a_plain_hf_qwen3_vl_directory(tiny, tmp_path):
    """What VLLMEngine hands vLLM: HF Qwen3-VL weights + tokenizer ([SEG] included) + image processor."""
    from transformers import AutoImageProcessor, AutoTokenizer, Qwen3VLForConditionalGeneration

    from components.grpo.vllm_engine import export_vlm

    d = export_vlm(tiny, tmp_path / "vlm")
    assert {"config.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json"} <= {
        p.name for p in d.iterdir()
    }
    assert "[SEG]" in AutoTokenizer.from_pretrained(d).get_vocab()
    image = Image.new("RGB", (64, 64), (1, 2, 3))
    batch = tiny.processor.prompt_batch([image], ["What is here?"])
    pixels = AutoImageProcessor.from_pretrained(d)(images=[image], return_tensors="pt")
    assert torch.equal(pixels["image_grid_thw"], batch["image_grid_thw"])
    assert torch.allclose(pixels["pixel_values"], batch["pixel_values"], atol=1e-5)
    plain = Qwen3VLForConditionalGeneration.from_pretrained(d).eval()
    keys = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")
    tiny.eval()
    with torch.no_grad():
        want = tiny.vlm(**{k: batch[k] for k in keys}).logits
        got = plain(**{k: batch[k] for k in keys}).logits
    tiny.train()
    assert torch.allclose(want, got, atol=1e-5)
