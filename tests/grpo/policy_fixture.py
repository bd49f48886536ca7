"""A tiny R-Sa2VA that already writes the trace format, standing in for an SFT model in GRPO tests.

A few teacher-forced steps on short targets (`<think><obj1> [SEG]</think> <answer><obj1> [SEG]</answer>`)
leave it sampling a mix of well- and badly-formed traces at temperature 1.2, so GRPO groups have
reward variance (a random-init model earns 0 everywhere and gives zero advantages).
"""

from __future__ import annotations

from pathlib import Path

import torch

VLM_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")


def short_targets(rows: list[dict]) -> list[dict]:
    """Rows whose reasoning and answer just mention the answer objects."""
    out = []
    for row in rows:
        refs = " ".join(f"<ref:{i}>" for i in row["answer_ids"])
        out.append(dict(row, reasoning=refs, answer=refs, reasoning_ids=list(row["answer_ids"])))
    return out


def format_tuned_model(
    rows: list[dict], directory: Path, target_loss: float = 0.05, max_steps: int = 80, lr: float = 1e-2
) -> Path:
    """Train the tiny preset's language model on `rows`' short targets until its CE < target_loss; save it."""
    from models import RSa2VA, load_preset
    from models.config import with_text_init

    # tuned at transformers' default LM init (0.02), not the tiny preset's 0.2: at 0.2 the same steps leave it
    # writing every trace alike, and every GRPO group has zero advantage
    model = RSa2VA.from_preset(with_text_init(load_preset("tiny"), 0.02), seed=0)
    batch = model.processor.collate(short_targets(rows), train=True)
    optimizer = torch.optim.AdamW(model.vlm.parameters(), lr=lr)
    for _ in range(max_steps):
        out = model.vlm(**{k: batch[k] for k in VLM_KEYS}, labels=batch["labels"], use_cache=False)
        if float(out.loss.detach()) < target_loss:
            break
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    return model.save_pretrained(directory)
