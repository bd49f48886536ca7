"""Generation: `predict(images, questions) -> list[Trace]` and the teacher-forced mask pass.

    traces = model.predict(images, questions)              # greedy, the preset's budget (2048 for real presets)
    traces = model.predict(images, questions, do_sample=True, temperature=1.2, top_p=0.9)
    ids = model.generate_ids(images, questions)                                 # completions only
    traces = model.masks_for_sequences(images, questions, ids)                  # GRPO rollouts

`predict` = `generate_ids` (HF generate on Qwen3-VL) + `masks_for_sequences` (one forward over
prompt + completion; each `[SEG]`'s last-layer state -> SAM 2 decoder -> low-res logits, resized
bilinearly to the SAM image size then to the image size, `> 0` i.e. `sigmoid > 0.5`). The text
is the decoded completion without its end token, stripped, as the authors' code returns it.
A literal "[SEG]" the model spelled out of ordinary tokens is not a segmentation token: it is
written as "[SEG ]" in the trace text so that text and masks always agree.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace

import torch
import torch.nn.functional as F

from evaluation.masks import encode as encode_rle
from models.tokenizer import SEG_TOKEN
from models.trace import Trace

_VLM_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")


def _cut_at_eos(row: list[int], eos: int) -> list[int]:
    return row[: row.index(eos) + 1] if eos in row else row


def decode_completion(tokenizer, ids: list[int], seg_id: int, eos_id: int) -> str:
    """Completion text with one "[SEG]" per `[SEG]` token and no end token."""
    ids = [i for i in ids if i != eos_id]
    pieces, current = [], []
    for token in ids:
        if token == seg_id:
            pieces.append(current)
            current = []
        else:
            current.append(token)
    pieces.append(current)
    texts = [tokenizer.decode(p, skip_special_tokens=False).replace(SEG_TOKEN, "[SEG ]") for p in pieces]
    return SEG_TOKEN.join(texts)


def is_truncated(ids: list[int], text: str, budget: int, eos_id: int) -> bool:
    """The completion used the whole budget without an end token and without closing `</answer>`."""
    return len(ids) >= budget and (not ids or ids[-1] != eos_id) and "</answer>" not in text


def masks_at_image_size(logits: torch.Tensor, sam_size: int, height: int, width: int) -> torch.Tensor:
    """Boolean masks (K, height, width) from low-res logits (K, h, w): bilinear to sam_size², then to
    the image size, then `sigmoid > 0.5` (the authors' order)."""
    x = F.interpolate(
        logits[:, None].float(), size=(sam_size, sam_size), mode="bilinear", align_corners=False
    )
    x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    return x[:, 0].sigmoid() > 0.5


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Inference behaviour (no dropout; `seg_norm`'s running statistics, so a sample's masks do not depend
    on the rest of its batch) whatever mode the caller left the model in; the mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


class GenerationMixin:
    """predict / generate_ids / masks_for_sequences for RSa2VA."""

    def _to_device(self, batch: dict) -> dict:
        return {k: batch[k].to(self.device) for k in _VLM_KEYS}

    @torch.no_grad()
    def generate_ids(
        self,
        images,
        questions,
        max_new_tokens: int = 0,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
    ) -> list[list[int]]:
        """Completion token ids per prompt, cut after the end token (`<|im_end|>`); max_new_tokens 0: the
        preset's budget."""
        max_new_tokens = max_new_tokens or self.preset.max_new_tokens
        if max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be positive, got {max_new_tokens}")
        proc = self.processor
        inputs = self._to_device(proc.prompt_batch(images, questions))
        inputs["pixel_values"] = inputs["pixel_values"].to(self.vlm.dtype)
        sampling = (
            {"do_sample": True, "temperature": temperature, "top_p": top_p}
            if do_sample
            else {"do_sample": False}
        )
        out = self.vlm.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            eos_token_id=proc.eos_token_id,
            pad_token_id=proc.pad_token_id,
            top_k=None,
            **sampling,
        )
        completions = out[:, inputs["input_ids"].shape[1] :].tolist()
        return [_cut_at_eos(row, proc.eos_token_id) for row in completions]

    @torch.no_grad()
    def masks_for_sequences(
        self, images, questions, completions: list[list[int]], low_res: bool = False
    ) -> list[Trace]:
        """Teacher-forced pass over prompt + given completion ids, in eval mode: one mask (RLE) per `[SEG]`, at
        image size, or (`low_res`) SAM 2's low-res logits > 0 as they come out of the decoder (256² for a 1024
        SAM), the masks the authors' GRPO reward compares."""
        proc = self.processor
        completions = [_cut_at_eos(list(ids), proc.eos_token_id) for ids in completions]
        batch = proc.sequence_batch(images, questions, completions)
        inputs = self._to_device(batch)
        with eval_mode(self):
            out = self.vlm(
                **{**inputs, "pixel_values": inputs["pixel_values"].to(self.vlm.dtype)},
                output_hidden_states=True,
                use_cache=False,
            )
            logits, scores = self.seg_masks(
                inputs["input_ids"], out.hidden_states[-1], batch["sam_pixel_values"].to(self.device)
            )
        traces = []
        for b, ids in enumerate(completions):
            height, width = batch["image_sizes"][b]
            masks = []
            if logits[b].shape[0]:
                if low_res:
                    full = logits[b] > 0  # sigmoid > 0.5
                else:
                    full = masks_at_image_size(logits[b], proc.settings.sam_image_size, height, width)
                masks = [encode_rle(m.cpu().numpy()) for m in full]
            text = decode_completion(proc.tokenizer, ids, proc.seg_token_id, proc.eos_token_id).strip()
            traces.append(Trace.build(text, masks, [float(s) for s in scores[b]], ids))
        return traces

    def predict(
        self,
        images,
        questions,
        max_new_tokens: int = 0,
        do_sample: bool = False,
        temperature: float = 1.0,
        top_p: float = 1.0,
        batch_size: int = 8,
    ) -> list[Trace]:
        """Generate a trace per (image, question): text, `[SEG]` roles, one RLE mask + score per `[SEG]`
        (max_new_tokens 0: the preset's budget; a trace that used it all is marked `truncated`)."""
        if len(images) != len(questions):
            raise ValueError(
                f"got {len(images)} images but {len(questions)} questions; pass one question per image"
            )
        traces: list[Trace] = []
        with eval_mode(self):
            for start in range(0, len(images), batch_size):
                imgs, qs = images[start : start + batch_size], questions[start : start + batch_size]
                ids = self.generate_ids(imgs, qs, max_new_tokens, do_sample, temperature, top_p)
                budget = max_new_tokens or self.preset.max_new_tokens
                traces.extend(
                    replace(t, truncated=is_truncated(row, t.text, budget, self.processor.eos_token_id))
                    for t, row in zip(self.masks_for_sequences(imgs, qs, ids), ids)
                )
        return traces
