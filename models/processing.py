"""RSa2VAProcessor: canonical samples -> model inputs (chat prompt, both image towers, targets).

    proc = RSa2VAProcessor(tokenizer, ProcessorSettings(sam_image_size=128, ...))
    batch = proc.collate(samples, train=True)    # right-padded, with labels and mask targets
    batch = proc.prompt_batch(images, questions) # left-padded prompts for generation

The chat is one user turn, [image, `user_prompt(question)`], no system prompt, then the assistant
turn: rendered with the checkpoint's own chat template (`chat_template`, real presets) or, when
there is none (the tiny preset), written out as Qwen3-VL's template renders that turn.
Qwen3-VL sees the image resized by `Qwen2VLImageProcessorPil` (no torchvision) into
patch_size x merge_size multiples within [min_pixels, max_pixels]; SAM 2 sees it resized to
sam_image_size² (ImageNet normalisation). Mask targets are the pool masks in `[SEG]` order,
resized (nearest) to mask_loss_size²; an object with a box and no mask (VGR) gets its box as the
target and `gt_is_box` marks it (the model trains it with the box projection loss).
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from evaluation.masks import decode as decode_rle
from models.prompt import build_target, prompt_variant, user_prompt
from models.tokenizer import IM_END, IM_START, IMAGE_PAD, SEG_TOKEN, VISION_END, VISION_START

PROCESSOR_FILE = "processor_config.json"
SAM_MEAN = (0.485, 0.456, 0.406)
SAM_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ProcessorSettings:
    """Image sizes of both towers and the size limits; saved as processor_config.json."""

    min_pixels: int
    max_pixels: int
    sam_image_size: int
    max_image_side: int
    mask_loss_size: int
    patch_size: int = 16
    merge_size: int = 2
    temporal_patch_size: int = 2
    chat_template: str | None = None  # the checkpoint's Jinja chat template; None: Qwen3-VL's, written out
    prompt_seed: int = 0  # SFT: which think prompt each sample gets (models.prompt.prompt_variant)


def check_image(image: Any, sample_id: str, max_side: int) -> Image.Image:
    """The image as RGB PIL, or ValueError saying what is wrong with it."""
    if isinstance(image, (bytes, bytearray)):
        if not image:
            raise ValueError(f"sample {sample_id}: image bytes are empty")
        try:
            image = Image.open(io.BytesIO(image))
            image.load()
        except Exception as e:
            raise ValueError(f"sample {sample_id}: image bytes are not a readable image ({e})") from e
    if not isinstance(image, Image.Image):
        raise ValueError(  # noqa: TRY004 (bad input is a ValueError here)
            f"sample {sample_id}: expected a PIL image or encoded bytes, got {type(image).__name__}"
        )
    if image.width == 0 or image.height == 0:
        raise ValueError(f"sample {sample_id}: image is empty ({image.width}x{image.height})")
    if image.mode != "RGB":
        raise ValueError(
            f"sample {sample_id}: image mode is {image.mode}, not RGB; convert it with .convert('RGB')"
        )
    if max(image.size) > max_side:
        raise ValueError(
            f"sample {sample_id}: image is {image.width}x{image.height}, larger than the preset's limit of "
            f"{max_side} px per side; downscale it first"
        )
    return image


def _object_mask(sample: dict[str, Any], obj_id: str, height: int, width: int) -> np.ndarray:
    sid = sample.get("id", "?")
    pool = {o["id"]: o for o in sample.get("objects") or []}
    if obj_id not in pool:
        raise ValueError(f"sample {sid}: text references object {obj_id!r}, absent from its object pool")
    rle = pool[obj_id].get("rle")
    if not rle:
        raise ValueError(
            f"sample {sid}: object {obj_id!r} has no mask (rle) and no box but its [SEG] needs one; more [SEG] than masks"
        )
    mask = decode_rle({"size": [height, width], "counts": rle})
    if mask.shape != (height, width):
        raise ValueError(f"sample {sid}: mask of {obj_id!r} is {mask.shape}, image is {(height, width)}")
    return mask


def box_target(box: Any, height: int, width: int, size: int, where: str) -> torch.Tensor:
    """A (size, size) mask that is 1 on the cells an [x1, y1, x2, y2] pixel box covers (at least one)."""
    if not isinstance(box, (list, tuple)) or len(box) != 4:
        raise ValueError(f"{where}: box {box!r} is not [x1, y1, x2, y2]")
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height):
        raise ValueError(f"{where}: box {box!r} is empty or leaves the {width}x{height} image")
    cols = (int(x1 * size / width), max(int(x1 * size / width) + 1, int(np.ceil(x2 * size / width))))
    rows = (int(y1 * size / height), max(int(y1 * size / height) + 1, int(np.ceil(y2 * size / height))))
    out = torch.zeros(size, size)
    out[rows[0] : rows[1], cols[0] : cols[1]] = 1.0
    return out


class RSa2VAProcessor:
    """Tokenizer + image preprocessing of both towers + collation."""

    def __init__(self, tokenizer, settings: ProcessorSettings) -> None:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        self.tokenizer = tokenizer
        self.settings = settings
        self.image_processor = Qwen2VLImageProcessorPil(
            min_pixels=settings.min_pixels,
            max_pixels=settings.max_pixels,
            patch_size=settings.patch_size,
            merge_size=settings.merge_size,
            temporal_patch_size=settings.temporal_patch_size,
            image_mean=[0.5, 0.5, 0.5],
            image_std=[0.5, 0.5, 0.5],
        )
        vocab = tokenizer.get_vocab()
        self.seg_token_id = vocab[SEG_TOKEN]
        self.image_token_id = vocab[IMAGE_PAD]
        self.eos_token_id = vocab[IM_END]
        self.pad_token_id = tokenizer.pad_token_id

    def save_pretrained(self, directory: str | Path) -> None:
        """Write processor_config.json and the tokenizer files into `directory`."""
        directory = Path(directory)
        (directory / PROCESSOR_FILE).write_text(json.dumps(asdict(self.settings), indent=2))
        self.tokenizer.save_pretrained(directory)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> RSa2VAProcessor:
        from transformers import AutoTokenizer

        directory = Path(directory)
        settings = ProcessorSettings(**json.loads((directory / PROCESSOR_FILE).read_text()))
        return cls(AutoTokenizer.from_pretrained(directory), settings)

    def encode_images(self, images: list[Image.Image]) -> dict[str, torch.Tensor]:
        """pixel_values + image_grid_thw (Qwen3-VL) and sam_pixel_values (SAM 2)."""
        qwen = self.image_processor(images=images, return_tensors="pt")
        size = self.settings.sam_image_size
        mean = torch.tensor(SAM_MEAN).view(3, 1, 1)
        std = torch.tensor(SAM_STD).view(3, 1, 1)
        sam = [
            (
                torch.from_numpy(
                    np.asarray(im.resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0
                ).permute(2, 0, 1)
                - mean
            )
            / std
            for im in images
        ]
        return {
            "pixel_values": qwen["pixel_values"],
            "image_grid_thw": qwen["image_grid_thw"],
            "sam_pixel_values": torch.stack(sam),
        }

    def chat_text(self, text: str, sample_id: str = "?") -> str:
        """The chat up to the assistant turn for one user turn [image, `text`], one `<|image_pad|>`."""
        template = self.settings.chat_template
        if template is None:
            chat = (
                f"{IM_START}user\n{VISION_START}{IMAGE_PAD}{VISION_END}{text}{IM_END}\n{IM_START}assistant\n"
            )
        else:
            messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
            chat = self.tokenizer.apply_chat_template(
                messages, chat_template=template, tokenize=False, add_generation_prompt=True
            )
        if chat.count(IMAGE_PAD) != 1:
            raise ValueError(
                f"sample {sample_id}: the chat holds {chat.count(IMAGE_PAD)} {IMAGE_PAD} instead of one; "
                "remove vision tokens from the question"
            )
        return chat

    def prompt_text(self, question: str, n_image_tokens: int, sample_id: str = "?", variant: int = 0,
                    answer_masks: bool = True) -> str:
        """Qwen3-VL chat text up to the assistant turn, the image expanded to `n_image_tokens` pads."""
        chat = self.chat_text(user_prompt(question, sample_id, variant, answer_masks), sample_id)
        return chat.replace(IMAGE_PAD, IMAGE_PAD * n_image_tokens)

    def _n_image_tokens(self, grid_thw: torch.Tensor) -> int:
        return int(grid_thw.prod()) // (self.settings.merge_size**2)

    def _pad(self, seqs: list[list[int]], value: int, left: bool) -> torch.Tensor:
        width = max(len(s) for s in seqs)
        rows = [([value] * (width - len(s)) + s) if left else (s + [value] * (width - len(s))) for s in seqs]
        return torch.tensor(rows, dtype=torch.long)

    def _finish(self, ids: list[list[int]], left: bool) -> dict[str, torch.Tensor]:
        input_ids = self._pad(ids, self.pad_token_id, left)
        attention = self._pad([[1] * len(s) for s in ids], 0, left)
        return {
            "input_ids": input_ids,
            "attention_mask": attention,
            "mm_token_type_ids": (input_ids == self.image_token_id).to(torch.int32),
        }

    def prompt_batch(self, images: list[Image.Image], questions: list[str], ids: list[str] | None = None):
        """Left-padded prompt batch for generation."""
        if len(images) != len(questions):
            raise ValueError(
                f"got {len(images)} images but {len(questions)} questions; pass one question per image"
            )
        ids = ids or [str(i) for i in range(len(images))]
        images = [check_image(im, sid, self.settings.max_image_side) for im, sid in zip(images, ids)]
        vision = self.encode_images(images)
        seqs = [
            self._prompt_ids(q, thw, sid) for q, thw, sid in zip(questions, vision["image_grid_thw"], ids)
        ]
        batch = self._finish(seqs, left=True)
        batch.update(vision)
        batch["image_sizes"] = [(im.height, im.width) for im in images]
        batch["sample_ids"] = ids
        return batch

    def _target_masks(self, sample: dict[str, Any], obj_ids: list[str], image: Image.Image):
        """(K, S, S) targets in [SEG] order and which of them are boxes (an object with a box and no mask,
        VGR's: its box as a mask, trained with the box projection loss)."""
        size = self.settings.mask_loss_size
        pool = {o["id"]: o for o in sample.get("objects") or []}
        out, is_box = torch.zeros(len(obj_ids), size, size), torch.zeros(len(obj_ids), dtype=torch.bool)
        for k, obj in enumerate(obj_ids):
            entry = pool.get(obj) or {}
            if not entry.get("rle") and entry.get("box") is not None:
                where = f"sample {sample.get('id', '?')}: object {obj!r}"
                out[k], is_box[k] = box_target(entry["box"], image.height, image.width, size, where), True
                continue
            mask = torch.from_numpy(_object_mask(sample, obj, image.height, image.width).astype(np.float32))
            out[k] = F.interpolate(mask[None, None], size=(size, size), mode="nearest")[0, 0]
        return out, is_box

    def _prompt_ids(
        self, question: str, grid_thw: torch.Tensor, sample_id: str, variant: int = 0, answer_masks: bool = True
    ) -> list[int]:
        text = self.prompt_text(question, self._n_image_tokens(grid_thw), sample_id, variant, answer_masks)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def _assemble(self, prompts, completions, vision, images, ids) -> dict[str, Any]:
        seqs = [p + c for p, c in zip(prompts, completions)]
        batch = self._finish(seqs, left=False)
        batch["labels"] = self._pad(
            [[-100] * len(p) + c for p, c in zip(prompts, completions)], -100, left=False
        )
        batch.update(vision)
        batch["image_sizes"] = [(im.height, im.width) for im in images]
        batch["sample_ids"] = ids
        return batch

    def sequence_batch(self, images, questions, completions: list[list[int]], ids: list[str] | None = None):
        """Right-padded prompt + given completion ids; `labels` are the completion tokens (prompt = -100)."""
        if not len(images) == len(questions) == len(completions):
            raise ValueError(
                f"got {len(images)} images, {len(questions)} questions, {len(completions)} completions; need one each"
            )
        ids = ids or [str(i) for i in range(len(images))]
        images = [check_image(im, sid, self.settings.max_image_side) for im, sid in zip(images, ids)]
        vision = self.encode_images(images)
        prompts = [
            self._prompt_ids(q, thw, sid) for q, thw, sid in zip(questions, vision["image_grid_thw"], ids)
        ]
        return self._assemble(prompts, [list(c) for c in completions], vision, images, ids)

    def collate(self, samples: list[dict[str, Any]], train: bool = True) -> dict[str, Any]:
        """Batch canonical rows. train=True: right-padded prompt (think prompt per `prompt_variant`) + target,
        labels, mask targets in [SEG] order; train=False: left-padded prompts for generation."""
        if not samples:
            raise ValueError("collate needs at least one sample")
        ids = [str(s.get("id", i)) for i, s in enumerate(samples)]
        if not train:
            return self.prompt_batch(
                [s.get("image") for s in samples], [s.get("question") for s in samples], ids
            )
        images = [
            check_image(s.get("image"), sid, self.settings.max_image_side) for s, sid in zip(samples, ids)
        ]
        vision = self.encode_images(images)
        prompts, targets, masks, boxes = [], [], [], []
        for sample, sid, image, thw in zip(samples, ids, images, vision["image_grid_thw"]):
            variant = prompt_variant(sid, self.settings.prompt_seed)
            text, obj_ids = build_target(sample)
            answer_masks = SEG_TOKEN in text.rsplit("<answer>", 1)[-1]
            prompts.append(self._prompt_ids(sample.get("question"), thw, sid, variant, answer_masks))
            target = self.tokenizer(text + IM_END, add_special_tokens=False)["input_ids"]
            if target.count(self.seg_token_id) != len(obj_ids):
                raise ValueError(
                    f"sample {sid}: target has {target.count(self.seg_token_id)} {SEG_TOKEN} but {len(obj_ids)} masks"
                )
            targets.append(target)
            mask, is_box = self._target_masks(sample, obj_ids, image)
            masks.append(mask)
            boxes.append(is_box)
        batch = self._assemble(prompts, targets, vision, images, ids)
        batch["gt_masks"] = masks
        if any(b.any() for b in boxes):
            batch["gt_is_box"] = boxes
        return batch
