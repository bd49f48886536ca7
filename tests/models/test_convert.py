"""Converter of released R-Sa2VA checkpoints: key table, and a full round trip through the layout."""

from __future__ import annotations

import dataclasses
import io
import json
import re

import pytest
import torch
from safetensors.torch import save_file

from models import RSa2VA
from models.convert import convert_checkpoint, convert_state_dict, sam_key

CASES = [
    ("image_encoder.trunk.patch_embed.proj.weight", "sam.vision_encoder.backbone.patch_embed.projection.weight"),
    ("image_encoder.trunk.pos_embed_window", "sam.vision_encoder.backbone.pos_embed_window"),
    ("image_encoder.trunk.blocks.3.norm1.bias", "sam.vision_encoder.backbone.blocks.3.layer_norm1.bias"),
    ("image_encoder.trunk.blocks.3.attn.qkv.weight", "sam.vision_encoder.backbone.blocks.3.attn.qkv.weight"),
    ("image_encoder.trunk.blocks.3.mlp.layers.1.weight", "sam.vision_encoder.backbone.blocks.3.mlp.proj_out.weight"),
    ("image_encoder.trunk.blocks.1.proj.weight", "sam.vision_encoder.backbone.blocks.1.proj.weight"),
    ("image_encoder.neck.convs.2.conv.bias", "sam.vision_encoder.neck.convs.2.bias"),
    ("sam_prompt_encoder.mask_downscaling.4.weight", "sam.prompt_encoder.mask_embed.layer_norm2.weight"),
    ("sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
     "sam.prompt_encoder.shared_embedding.positional_embedding"),
    ("sam_mask_decoder.transformer.layers.1.self_attn.out_proj.weight",
     "sam.mask_decoder.transformer.layers.1.self_attn.o_proj.weight"),
    ("sam_mask_decoder.transformer.layers.0.norm4.weight", "sam.mask_decoder.transformer.layers.0.layer_norm4.weight"),
    ("sam_mask_decoder.transformer.norm_final_attn.bias", "sam.mask_decoder.transformer.layer_norm_final_attn.bias"),
    ("sam_mask_decoder.transformer.layers.0.mlp.layers.0.weight",
     "sam.mask_decoder.transformer.layers.0.mlp.proj_in.weight"),
    ("sam_mask_decoder.output_hypernetworks_mlps.2.layers.1.bias",
     "sam.mask_decoder.output_hypernetworks_mlps.2.layers.0.bias"),
    ("sam_mask_decoder.iou_prediction_head.layers.2.weight", "sam.mask_decoder.iou_prediction_head.proj_out.weight"),
    ("sam_mask_decoder.output_upscaling.1.weight", "sam.mask_decoder.upscale_layer_norm.weight"),
    ("sam_mask_decoder.conv_s1.weight", "sam.mask_decoder.conv_s1.weight"),
    ("no_mem_embed", "sam.no_memory_embedding"),
    ("memory_attention.layers.0.self_attn.q_proj.weight", None),
    ("maskmem_tpos_enc", None),
]  # fmt: skip


@pytest.fixture
def tiny_preset(tiny_preset):
    """The tiny preset as a released checkpoint's architecture: the paper's [SEG] path (no `seg_norm`)."""
    return dataclasses.replace(tiny_preset, seg_norm="none")


def test_a_preset_with_seg_norm_cannot_hold_a_release(tiny_preset, tmp_path):
    from models.config import HFSource

    with pytest.raises(ValueError, match=r"a released checkpoint has no \[SEG\] state statistics; set seg_norm: none"):
        dataclasses.replace(tiny_preset, init="released", released=HFSource(str(tmp_path)), seg_norm="batch")
    model = _same_fourier(RSa2VA.from_preset(tiny_preset, seed=0))
    _write_released(model, tmp_path / "rel")
    with pytest.raises(ValueError, match="seg_norm 'batch', which a released checkpoint has no statistics for"):
        convert_checkpoint(tmp_path / "rel", tmp_path / "out", preset=dataclasses.replace(tiny_preset, seg_norm="batch"))


@pytest.mark.parametrize(("meta", "ours"), CASES)
def test_sam_key_table(meta, ours):
    assert sam_key(meta) == ours


# our name -> Meta SAM 2 name (the inverse of the converter, to build a released-style file)
_PREFIXES = (
    (r"^vision_encoder\.backbone\.", "image_encoder.trunk."),
    (r"^vision_encoder\.neck\.convs\.(\d+)\.", r"image_encoder.neck.convs.\1.conv."),
    (r"^prompt_encoder\.", "sam_prompt_encoder."),
    (r"^mask_decoder\.", "sam_mask_decoder."),
    (r"^no_memory_embedding$", "no_mem_embed"),
)
_MODULES = {
    "mask_embed.conv1": "mask_downscaling.0", "mask_embed.layer_norm1": "mask_downscaling.1",
    "mask_embed.conv2": "mask_downscaling.3", "mask_embed.layer_norm2": "mask_downscaling.4",
    "mask_embed.conv3": "mask_downscaling.6", "upscale_conv1": "output_upscaling.0",
    "upscale_layer_norm": "output_upscaling.1", "upscale_conv2": "output_upscaling.3",
    "patch_embed.projection": "patch_embed.proj", "layer_norm_final_attn": "norm_final_attn",
    "o_proj": "out_proj", "mlp.proj_in": "mlp.layers.0", "mlp.proj_out": "mlp.layers.1",
    "shared_embedding.positional_embedding": "pe_layer.positional_encoding_gaussian_matrix",
}  # fmt: skip
_HEAD = re.compile(
    r"(output_hypernetworks_mlps\.\d+|iou_prediction_head|pred_obj_score_head)\.(proj_in|layers\.0|proj_out)"
)
_HEAD_LAYER = {"proj_in": "layers.0", "layers.0": "layers.1", "proj_out": "layers.2"}


def _to_meta(key: str) -> str:
    for pattern, repl in _PREFIXES:
        key = re.sub(pattern, repl, key)
    key = _HEAD.sub(lambda m: f"{m.group(1)}.{_HEAD_LAYER[m.group(2)]}", key)
    for ours, meta in _MODULES.items():
        key = re.sub(rf"(^|\.){re.escape(ours)}(\.|$)", rf"\g<1>{meta}\2", key)
    return re.sub(r"\.layer_norm(\d)\.", r".norm\1.", key)


def _released_state(model: RSa2VA) -> dict[str, torch.Tensor]:
    out = {}
    sam = "grounding_encoder.sam2_model."
    for key, value in model.state_dict().items():
        value = value.clone().contiguous()
        if key.startswith("vlm."):
            out["model." + key[4:]] = value
        elif key.startswith("seg_projection."):
            out["text_hidden_fcs." + key[len("seg_projection.") :]] = value
        elif key == "sam.prompt_encoder.point_embed.weight":
            for i, row in enumerate(value):
                out[f"{sam}sam_prompt_encoder.point_embeddings.{i}.weight"] = row[None].clone()
        elif key != "sam.shared_image_embedding.positional_embedding":
            out[sam + _to_meta(key[len("sam.") :])] = value
    out[sam + "memory_attention.layers.0.norm1.weight"] = torch.ones(4)
    out[sam + "maskmem_tpos_enc"] = torch.zeros(7, 1, 1, 4)
    return out


# a chat template that renders a [image, text] user turn as Qwen3-VL's does (released checkpoints ship
# Qwen3-VL's processor files; the converted model renders prompts with the checkpoint's own template)
CHAT_TEMPLATE = (
    "{%- for m in messages %}{{- '<|im_start|>' + m.role + '\\n' }}{%- for c in m.content %}"
    "{%- if c.type == 'image' %}{{- '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{%- elif 'text' in c %}{{- c.text }}{%- endif %}{%- endfor %}{{- '<|im_end|>\\n' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def _write_released(model: RSa2VA, source) -> None:
    """A checkpoint laid out like the released Sa2VA-Qwen3-VL / R-Sa2VA ones, from `model`."""
    source.mkdir()
    save_file(_released_state(model), str(source / "model.safetensors"))
    vlm = model.vlm.config.to_dict()
    (source / "config.json").write_text(
        json.dumps({"text_config": vlm["text_config"], "vision_config": vlm["vision_config"]})
    )
    model.processor.tokenizer.save_pretrained(source)
    (source / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}))


def _same_fourier(model: RSa2VA) -> RSa2VA:
    with torch.no_grad():  # as in every SAM 2: one random-Fourier matrix for image and prompt positions
        sam = model.sam
        sam.shared_image_embedding.positional_embedding.copy_(
            sam.prompt_encoder.shared_embedding.positional_embedding
        )
    return model.eval()


def _same_masks(a: RSa2VA, b: RSa2VA, samples) -> None:
    from PIL import Image

    images = [Image.open(io.BytesIO(s["image"])).convert("RGB") for s in samples]
    questions = [s["question"] for s in samples]
    ta, tb = a.predict(images, questions, max_new_tokens=6), b.predict(images, questions, max_new_tokens=6)
    assert [t.text for t in ta] == [t.text for t in tb]
    assert [t.masks for t in ta] == [t.masks for t in tb]  # identical RLEs at image size
    completion = a.processor.tokenizer("<answer><obj1> [SEG] <obj2> [SEG]</answer>", add_special_tokens=False)
    ids = [completion["input_ids"]] * len(samples)
    ma, mb = a.masks_for_sequences(images, questions, ids), b.masks_for_sequences(images, questions, ids)
    assert [t.masks for t in ma] == [t.masks for t in mb] and all(len(t.masks) == 2 for t in ma)


def test_sa2va_release_is_where_4b_starts(tiny_preset, samples, tmp_path):
    """`init: released` (the 4b preset's start, Sa2VA-Qwen3-VL-4B) reads the released layout through the
    converter: same masks as the model the checkpoint was made from, LoRA at zero on every LM Linear."""
    from models.config import HFSource, LoraPolicy

    base = _same_fourier(RSa2VA.from_preset(tiny_preset, seed=0))
    _write_released(base, tmp_path / "Sa2VA-tiny")
    policy = dataclasses.replace(tiny_preset.policy, lora=LoraPolicy(r=4, alpha=8, dropout=0.0))
    preset = dataclasses.replace(
        tiny_preset, init="released", released=HFSource(str(tmp_path / "Sa2VA-tiny")), policy=policy
    )
    started = RSa2VA.from_preset(preset).eval()
    assert started.processor.settings.chat_template == CHAT_TEMPLATE
    assert any("lora_B" in n for n, _ in started.named_parameters())
    _same_masks(base, started, samples)


def test_round_trip_through_released_layout(tiny_preset, samples, tmp_path):
    tiny_model = RSa2VA.from_preset(tiny_preset, seed=0)
    with torch.no_grad():  # as in every SAM 2: one random-Fourier matrix for image and prompt positions
        sam = tiny_model.sam
        sam.shared_image_embedding.positional_embedding.copy_(
            sam.prompt_encoder.shared_embedding.positional_embedding
        )
    source = tmp_path / "released"
    source.mkdir()
    state = _released_state(tiny_model)
    converted = convert_state_dict(state)
    assert set(converted) == set(tiny_model.state_dict())
    source.rmdir()
    _write_released(tiny_model, source)
    loaded = RSa2VA.from_pretrained(convert_checkpoint(source, tmp_path / "ours", preset=tiny_preset))
    assert loaded.processor.settings.chat_template == CHAT_TEMPLATE
    assert loaded.vlm.config.tie_word_embeddings is False
    batch = tiny_model.processor.collate(samples, train=True)
    tiny_model.eval()
    with torch.no_grad():
        a, b = tiny_model(**batch), loaded(**batch)
    assert torch.equal(a.logits, b.logits)
    assert all(torch.equal(x, y) for x, y in zip(a.pred_masks, b.pred_masks))
    _same_masks(tiny_model, loaded, samples)


def test_release_without_chat_template_is_refused(tiny_preset, tmp_path):
    model = _same_fourier(RSa2VA.from_preset(tiny_preset, seed=0))
    _write_released(model, tmp_path / "rel")
    (tmp_path / "rel" / "chat_template.json").unlink()
    with pytest.raises(
        ValueError, match="no chat_template.jinja / chat_template.json and no tokenizer chat template"
    ):
        convert_checkpoint(tmp_path / "rel", tmp_path / "out", preset=tiny_preset)


def test_unknown_keys_are_refused():
    with pytest.raises(
        ValueError, match=r"1 keys match no known part of the R-Sa2VA layout: \['vision_tower.x'\]"
    ):
        convert_state_dict({"vision_tower.x": torch.zeros(1)})


def test_command_line_answers_bad_input_in_one_line(tmp_path, capsys):
    from models.convert import main

    cases = [
        ([str(tmp_path / "missing"), str(tmp_path / "out")], "is not a directory: give a local snapshot"),
        ([str(tmp_path), str(tmp_path / "out"), "--preset", "tiny"], "seg_norm 'batch', which a released checkpoint"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
