"""Convert a released R-Sa2VA / Sa2VA-Qwen3-VL checkpoint (HF `Sa2VAChatModelQwen` layout) into ours.

Both releases share the layout (projects/sa2va/hf/models_qwen3vl): `HarborYuan/R-Sa2VA-Qwen3VL-4B-*`
and `ByteDance/Sa2VA-Qwen3-VL-4B` (where the `4b` preset starts, `init: released`).

    from models.convert import convert_checkpoint
    convert_checkpoint("R-Sa2VA-Qwen3VL-4B-SFT/", "out/rsa2va-4b-sft", preset="4b")

    .venv/bin/python -m models.convert R-Sa2VA-Qwen3VL-4B-SFT/ out/rsa2va-4b-sft --preset 4b

Source layout (bytedance/Sa2VA `tools/convert_to_hf.py`: the training state dict with `mllm.`
stripped, LoRA merged, `embed_tokens` and `lm_head` untied, vocab = len(tokenizer)):

| source key                                   | our key                                      |
| -------------------------------------------- | -------------------------------------------- |
| `model.<Qwen3VLForConditionalGeneration>`    | `vlm.<same>`                                 |
| `text_hidden_fcs.{0,2}.*` (Linear, ReLU, Linear, Dropout) | `seg_projection.{0,2}.*`        |
| `grounding_encoder.sam2_model.<Meta SAM 2>`  | `sam.<transformers Sam2Model>` (SAM_RENAMES) |

Meta's video-memory modules (memory attention/encoder, object pointers) have no counterpart in
the image model and are dropped (SAM_DROPPED). Every other key must map, and every weight of our
model must be filled (LoRA adapters excepted: they start at zero, so outputs equal the merged
model): anything else is a ValueError listing the keys.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from models.config import ModelPreset

SAM_PREFIX = "grounding_encoder.sam2_model."
SAM_DROPPED = (
    "memory_attention.", "memory_encoder.", "mask_downsample.", "maskmem_tpos_enc", "no_mem_pos_enc",
    "obj_ptr_proj.", "obj_ptr_tpos_proj.", "no_obj_ptr", "no_obj_embed_spatial",
)  # fmt: skip
# (Meta SAM 2 name pattern, transformers Sam2Model name), applied in order to the key after SAM_PREFIX
SAM_RENAMES = (
    (r"^image_encoder\.trunk\.", "vision_encoder.backbone."),
    (r"^image_encoder\.neck\.convs\.(\d+)\.conv\.", r"vision_encoder.neck.convs.\1."),
    (r"^sam_prompt_encoder\.", "prompt_encoder."),
    (r"^sam_mask_decoder\.", "mask_decoder."),
    (r"^no_mem_embed$", "no_memory_embedding"),
    (r"\.patch_embed\.proj\.", ".patch_embed.projection."),
    (r"\.norm(\d)\.", r".layer_norm\1."),
    (r"\.norm_final_attn\.", ".layer_norm_final_attn."),
    (r"\.out_proj\.", ".o_proj."),
    (r"\.mlp\.layers\.0\.", ".mlp.proj_in."),
    (r"\.mlp\.layers\.1\.", ".mlp.proj_out."),
    (
        r"\.(output_hypernetworks_mlps\.\d+|iou_prediction_head|pred_obj_score_head)\.layers\.0\.",
        r".\1.proj_in.",
    ),
    (
        r"\.(output_hypernetworks_mlps\.\d+|iou_prediction_head|pred_obj_score_head)\.layers\.1\.",
        r".\1.layers.0.",
    ),
    (
        r"\.(output_hypernetworks_mlps\.\d+|iou_prediction_head|pred_obj_score_head)\.layers\.2\.",
        r".\1.proj_out.",
    ),
    (r"\.output_upscaling\.0\.", ".upscale_conv1."),
    (r"\.output_upscaling\.1\.", ".upscale_layer_norm."),
    (r"\.output_upscaling\.3\.", ".upscale_conv2."),
    (r"\.mask_downscaling\.0\.", ".mask_embed.conv1."),
    (r"\.mask_downscaling\.1\.", ".mask_embed.layer_norm1."),
    (r"\.mask_downscaling\.3\.", ".mask_embed.conv2."),
    (r"\.mask_downscaling\.4\.", ".mask_embed.layer_norm2."),
    (r"\.mask_downscaling\.6\.", ".mask_embed.conv3."),
    (r"\.pe_layer\.positional_encoding_gaussian_matrix$", ".shared_embedding.positional_embedding"),
)
_POINT_EMBED = re.compile(r"^sam_prompt_encoder\.point_embeddings\.(\d+)\.weight$")


def sam_key(key: str) -> str | None:
    """Our name for a Meta SAM 2 key (without SAM_PREFIX), None for a dropped video-memory key."""
    if key.startswith(SAM_DROPPED):
        return None
    for pattern, repl in SAM_RENAMES:
        key = re.sub(pattern, repl, key)
    return "sam." + key


def convert_state_dict(source: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a released state dict into RSa2VA keys (see the module table)."""
    out: dict[str, torch.Tensor] = {}
    points: dict[int, torch.Tensor] = {}
    unknown = []
    for key, value in source.items():
        if key.startswith("model."):
            out["vlm." + key[len("model.") :]] = value
        elif m := re.match(r"^text_hidden_fcs\.([02])\.(weight|bias)$", key):
            out[f"seg_projection.{m.group(1)}.{m.group(2)}"] = value
        elif key.startswith(SAM_PREFIX):
            inner = key[len(SAM_PREFIX) :]
            if m := _POINT_EMBED.match(inner):
                points[int(m.group(1))] = value
            elif (name := sam_key(inner)) is not None:
                out[name] = value
        else:
            unknown.append(key)
    if unknown:
        raise ValueError(
            f"{len(unknown)} keys match no known part of the R-Sa2VA layout: {sorted(unknown)[:10]}"
        )
    if points:
        out["sam.prompt_encoder.point_embed.weight"] = torch.cat([points[i] for i in sorted(points)])
    gaussian = out.get("sam.prompt_encoder.shared_embedding.positional_embedding")
    if gaussian is not None:  # SAM 2 uses one random-Fourier matrix for image and prompt positions
        out["sam.shared_image_embedding.positional_embedding"] = gaussian
    return out


def read_safetensors_dir(directory: Path) -> dict[str, torch.Tensor]:
    """All tensors of `model.safetensors` or of the shards listed in `model.safetensors.index.json`."""
    from safetensors.torch import load_file

    index = directory / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    elif (directory / "model.safetensors").is_file():
        shards = ["model.safetensors"]
    else:
        raise ValueError(
            f"{directory}: no model.safetensors or model.safetensors.index.json (safetensors only)"
        )
    tensors: dict[str, torch.Tensor] = {}
    for shard in shards:
        tensors.update(load_file(str(directory / shard)))
    return tensors


def _vlm_config(source_config: dict, tokenizer):
    from transformers import Qwen3VLConfig

    from models.tokenizer import IMAGE_PAD, VIDEO_PAD, VISION_END, VISION_START

    ids = tokenizer.get_vocab()
    text = dict(source_config["text_config"], tie_word_embeddings=False)
    return Qwen3VLConfig(
        text_config=text, vision_config=source_config["vision_config"], tie_word_embeddings=False,
        image_token_id=ids[IMAGE_PAD], video_token_id=ids[VIDEO_PAD],
        vision_start_token_id=ids[VISION_START], vision_end_token_id=ids[VISION_END],
    )  # fmt: skip


def load_released(source_dir: str | Path, preset: str | ModelPreset = "4b"):
    """An RSa2VA holding the released checkpoint in `source_dir` (Sa2VA-Qwen3-VL or R-Sa2VA HF layout),
    with the preset's SAM 2 architecture, image sizes and train policy; the chat template is the
    checkpoint's own. LoRA adapters (when the policy has them) start at zero: outputs equal the release."""
    from transformers import AutoTokenizer, Qwen3VLForConditionalGeneration, Sam2Model

    from models.config import load_preset
    from models.io import _default_dtype
    from models.modeling import RSa2VA, processor_settings
    from models.processing import RSa2VAProcessor
    from models.tokenizer import SEG_TOKEN
    from models.towers import DTYPES, chat_template_of, sam_config

    source_dir = Path(source_dir)
    spec = load_preset(preset) if isinstance(preset, str) else preset
    if spec.seg_norm != "none":
        raise ValueError(
            f"preset {spec.name}: seg_norm {spec.seg_norm!r}, which a released checkpoint has no statistics "
            "for; convert with a preset whose seg_norm is none (4b)"
        )
    tokenizer = AutoTokenizer.from_pretrained(source_dir)
    if SEG_TOKEN not in tokenizer.get_vocab():
        raise ValueError(
            f"{source_dir}: the tokenizer has no {SEG_TOKEN} token; not a Sa2VA / R-Sa2VA checkpoint"
        )
    template = chat_template_of(str(source_dir), None, tokenizer)
    weights = convert_state_dict(read_safetensors_dir(source_dir))
    with _default_dtype(DTYPES[spec.dtype]):
        vlm = Qwen3VLForConditionalGeneration(
            _vlm_config(json.loads((source_dir / "config.json").read_text()), tokenizer)
        )
        sam = Sam2Model(sam_config(spec))
    model = RSa2VA(spec, vlm, sam, RSa2VAProcessor(tokenizer, processor_settings(spec, vlm, template)))
    for key in model.state_dict():  # LoRA-wrapped Linears keep their weights under `base_layer`
        if ".base_layer." in key and (plain := key.replace(".base_layer.", ".")) in weights:
            weights[key] = weights.pop(plain)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    missing = [k for k in missing if "lora_" not in k]
    if missing or unexpected:
        raise ValueError(f"conversion left {len(missing)} weights unfilled {missing[:10]} and "
                         f"{len(unexpected)} unused {unexpected[:10]}")  # fmt: skip
    for name, param in model.named_parameters():
        if "lora_B" in name:
            param.data.zero_()
    return model


def convert_checkpoint(source_dir: str | Path, out_dir: str | Path, preset: str | ModelPreset = "4b") -> Path:
    """Write the released checkpoint in `source_dir` as an RSa2VA directory (`RSa2VA.from_pretrained`)."""
    return load_released(source_dir, preset).save_pretrained(out_dir)


def main(argv: list[str] | None = None) -> None:
    """Command line: `python -m models.convert SOURCE_DIR OUT_DIR [--preset 4b]`."""
    import argparse

    parser = argparse.ArgumentParser(
        description="Convert a released R-Sa2VA checkpoint into the RSa2VA layout."
    )
    parser.add_argument("source", help="local snapshot of e.g. HarborYuan/R-Sa2VA-Qwen3VL-4B-SFT")
    parser.add_argument("out", help="output directory (written atomically)")
    parser.add_argument(
        "--preset", default="4b", help="preset giving SAM 2 architecture, image sizes, policy"
    )
    args = parser.parse_args(argv)
    if not Path(args.source).is_dir():
        parser.exit(2, f"error: {args.source} is not a directory: give a local snapshot of the released checkpoint\n")
    try:
        print(convert_checkpoint(args.source, args.out, args.preset))
    except (ValueError, OSError) as e:  # a preset, tokenizer or weights the converter cannot use: one line
        parser.exit(2, f"error: {e}\n")


if __name__ == "__main__":
    main()
