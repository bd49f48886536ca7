"""Save / load: safetensors directory round trip is bit-identical; the pretrained path on local dirs."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from PIL import Image

from models import RSa2VA
from models.config import HFSource, LoraPolicy, TrainPolicy
from models.prompt import user_prompt
from models.tokenizer import build_qwen_tokenizer
from models.towers import sam_config, vlm_config

# a Qwen3-VL-like chat template (user turn [image, text], no system prompt)
QWEN_LIKE_TEMPLATE = (
    "{%- for m in messages %}{{- '<|im_start|>' + m.role + '\\n' }}{%- for c in m.content %}"
    "{%- if c.type == 'image' %}{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif 'text' in c %}{{- c.text }}{%- endif %}{%- endfor %}{{- '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def _outputs(model, batch):
    model.eval()
    with torch.no_grad():
        out = model(**batch)
    return out


def test_round_trip_bit_identical(tiny_model, samples, tmp_path):
    path = tiny_model.save_pretrained(tmp_path / "ckpt")
    names = sorted(p.name for p in path.iterdir())
    assert {"config.json", "model.safetensors", "processor_config.json", "tokenizer.json"} <= set(names)
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl"))]
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no partial directories left behind
    loaded = RSa2VA.from_pretrained(path)
    batch = tiny_model.processor.collate(samples, train=True)
    a, b = _outputs(tiny_model, batch), _outputs(loaded, loaded.processor.collate(samples, train=True))
    assert torch.equal(a.logits, b.logits) and torch.equal(a.loss, b.loss)
    assert all(torch.equal(x, y) for x, y in zip(a.pred_masks, b.pred_masks))
    images = [Image.new("RGB", (80, 64), (200, 30, 30))]
    assert tiny_model.predict(images, ["where?"], max_new_tokens=6) == loaded.predict(
        images, ["where?"], max_new_tokens=6
    )
    assert loaded.preset == tiny_model.preset


def test_round_trip_with_lora(tiny_preset, samples, tmp_path):
    preset = dataclasses.replace(tiny_preset, policy=TrainPolicy(lora=LoraPolicy(r=4, alpha=8, dropout=0.0)))
    model = RSa2VA.from_preset(preset, seed=3)
    with torch.no_grad():  # LoRA B starts at zero: make the adapters matter
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_()
    loaded = RSa2VA.from_pretrained(model.save_pretrained(tmp_path / "lora"))
    batch = model.processor.collate(samples, train=True)
    assert torch.equal(_outputs(model, batch).logits, _outputs(loaded, batch).logits)
    assert sum("lora_A" in n for n, _ in loaded.named_parameters()) == 14


def test_overwrite_existing_directory(tiny_model, tmp_path):
    target = tmp_path / "ckpt"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    tiny_model.save_pretrained(target)
    assert not (target / "stale.txt").exists() and (target / "model.safetensors").exists()


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(
        ValueError, match="is not an RSa2VA checkpoint: need config.json and model.safetensors"
    ):
        RSa2VA.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"format": "other"}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="format 'other'"):
        RSa2VA.from_pretrained(tmp_path)


@pytest.fixture(scope="module")
def local_hub(tiny_preset, tmp_path_factory):
    """Qwen3-VL and SAM 2 saved like hub snapshots (no [SEG] in the tokenizer yet)."""
    from transformers import Qwen3VLForConditionalGeneration, Sam2Model

    root = tmp_path_factory.mktemp("hub")
    tokenizer = build_qwen_tokenizer(tiny_preset.tokenizer_bpe_ranks, rsa2va_tokens=False)
    torch.manual_seed(0)
    Qwen3VLForConditionalGeneration(vlm_config(tiny_preset, tokenizer.get_vocab())).save_pretrained(
        root / "qwen"
    )
    tokenizer.save_pretrained(root / "qwen")
    (root / "qwen" / "chat_template.jinja").write_text(QWEN_LIKE_TEMPLATE)  # as the processor files ship it
    Sam2Model(sam_config(tiny_preset)).save_pretrained(root / "sam")
    return root


def test_from_preset_pretrained_local(tiny_preset, local_hub, samples):
    preset = dataclasses.replace(
        tiny_preset,
        init="pretrained",
        vlm=HFSource(str(local_hub / "qwen")),
        sam=HFSource(str(local_hub / "sam")),
    )
    model = RSa2VA.from_preset(preset)
    tok = model.processor.tokenizer
    assert len(tok) == 8223 and model.vlm.get_input_embeddings().weight.shape[0] == 8223
    assert model.processor.settings.chat_template == QWEN_LIKE_TEMPLATE  # the snapshot's own template
    assert model.processor.prompt_text("Q?", 2) == (
        "<|im_start|>user\n<|vision_start|><|image_pad|><|image_pad|><|vision_end|>"
        + user_prompt("Q?")
        + "<|im_end|>\n<|im_start|>assistant\n"
    )
    out = model(**model.processor.collate(samples, train=True))
    assert [m.shape for m in out.pred_masks] == [(3, 64, 64), (3, 64, 64)]


def test_from_preset_architecture_mismatch(tiny_preset, local_hub):
    vlm = dict(
        tiny_preset.vlm_config, text_config=dict(tiny_preset.vlm_config["text_config"], num_hidden_layers=3)
    )
    preset = dataclasses.replace(
        tiny_preset,
        init="pretrained",
        vlm=HFSource(str(local_hub / "qwen")),
        sam=HFSource(str(local_hub / "sam")),
        vlm_config=vlm,
    )
    with pytest.raises(ValueError, match="has text_config.num_hidden_layers=2, the preset says 3"):
        RSa2VA.from_preset(preset)
