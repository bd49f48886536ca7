"""The tiny model on CUDA (bf16): training step and predict. Skipped without a GPU."""

from __future__ import annotations

import io

import pytest
import torch
from model_synth import make_samples
from PIL import Image

from models import RSa2VA, load_preset

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def test_tiny_on_cuda_bf16():
    model = RSa2VA.from_preset(load_preset("tiny"), seed=0).to("cuda", torch.bfloat16)
    samples = make_samples(2, size=96)
    batch = model.processor.collate(samples, train=True)
    batch = {k: v.to("cuda") if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    out = model(**batch)
    out.loss.backward()
    assert torch.isfinite(out.loss) and [m.shape[0] for m in out.pred_masks] == [3, 3]
    images = [Image.open(io.BytesIO(s["image"])).convert("RGB") for s in samples]
    traces = model.predict(images, [s["question"] for s in samples], max_new_tokens=8)
    assert all(len(t.masks) == t.text.count("[SEG]") for t in traces)
