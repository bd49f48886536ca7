"""RSa2VA: Qwen3-VL + SAM 2 mask decoder, one mask per `[SEG]` (TASKS.md §1.4).

    model = RSa2VA.from_preset(load_preset("tiny"), seed=0)
    out = model(**model.processor.collate(samples, train=True))
    out.loss.backward()

The last-layer hidden state of each `[SEG]` goes through an MLP (d -> d, ReLU, d -> prompt dim);
SAM 2's mask decoder gets it as the authors' code feeds it (docs/fidelity.md): sparse prompt =
[not_a_point, not_a_point, projection] (what the prompt encoder emits for one padding point of
label -1, then the language embedding), dense prompt = no_mask_embed, image features + no_mem_embed,
three masks per `[SEG]` of which the one with the highest predicted IoU is kept (training too).
SAM 2 image features are computed once per image and shared by all of that image's `[SEG]`s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from models.config import ModelPreset
from models.generation import GenerationMixin
from models.io import SaveLoadMixin
from models.losses import box_projection_loss, mask_bce, mask_dice, mask_iou, mask_slots, sample_points
from models.processing import ProcessorSettings, RSa2VAProcessor
from models.towers import (
    apply_policy,
    build_pretrained,
    build_random,
    chat_template_of,
    inject_lora,
    released_dir,
)


@dataclass
class RSa2VAOutput:
    """Losses (each term for logging), teacher-forced IoU and per-sample mask logits."""

    loss: torch.Tensor | None
    loss_ce: torch.Tensor | None
    loss_mask_bce: torch.Tensor
    loss_mask_dice: torch.Tensor
    mask_iou: torch.Tensor | None
    # next-token logits: (B, L, V) without labels; with labels only where the next token is labelled, (N, V)
    # in the row-major order of `labels[:, 1:] != -100` (the lm head over every position was ~half of the
    # tiny model's language-model time; on a real vocabulary of 152k it is most of the activation memory)
    logits: torch.Tensor
    pred_masks: list[torch.Tensor] = field(default_factory=list)  # (K_b, S, S) logits, S = mask_loss_size
    mask_scores: list[torch.Tensor] = field(default_factory=list)  # (K_b,) SAM 2 IoU predictions
    loss_mask_box: torch.Tensor | None = None  # box projection loss of box-only targets (None: no box target)
    token_ce: torch.Tensor | None = None  # (N,) CE of each labelled token, detached (None without labels)
    token_rows: torch.Tensor | None = None  # (N,) the batch row of each labelled token


def processor_settings(preset: ModelPreset, vlm, chat_template: str | None = None) -> ProcessorSettings:
    vision = vlm.config.vision_config
    return ProcessorSettings(
        min_pixels=preset.min_pixels,
        max_pixels=preset.max_pixels,
        sam_image_size=preset.sam_image_size,
        max_image_side=preset.max_image_side,
        mask_loss_size=preset.mask_loss_size,
        patch_size=vision.patch_size,
        merge_size=vision.spatial_merge_size,
        temporal_patch_size=vision.temporal_patch_size,
        chat_template=chat_template,
    )


def seg_projection(vlm, sam) -> nn.Sequential:
    """The `[SEG]` MLP: Linear(d, d), ReLU, Linear(d, SAM 2 prompt dim)."""
    d = vlm.config.text_config.hidden_size
    prompt_dim = sam.config.mask_decoder_config.hidden_size
    return nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, prompt_dim))


class SegStateNorm(nn.BatchNorm1d):
    """Standardises the `[SEG]` states before the projection (model preset `seg_norm: batch`; not in the
    paper, whose projection takes the raw state): per feature, minus the mean and over the standard deviation
    of the batch's `[SEG]` states while training on two or more of them, of the running estimate otherwise.

    A random-init language model's `[SEG]` state is one large constant (the token's own) plus a small part
    that depends on the question, and SFT's CE shrinks that part further; standardised, the projection sees
    the part that says which object is meant at unit scale (docs/learning.md)."""

    def __init__(self, width: int) -> None:
        super().__init__(width, affine=False, momentum=0.05)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        if self.training and states.shape[0] < 2:
            return F.batch_norm(states, self.running_mean, self.running_var, training=False, eps=self.eps)
        return super().forward(states)


class RSa2VA(GenerationMixin, SaveLoadMixin, nn.Module):
    """The R-Sa2VA model: `vlm` (Qwen3VLForConditionalGeneration), `sam` (Sam2Model), `seg_projection`."""

    def __init__(self, preset: ModelPreset, vlm, sam, processor: RSa2VAProcessor) -> None:
        super().__init__()
        self.preset = preset
        self.vlm = vlm
        self.sam = sam
        self.processor = processor
        self.seg_projection = seg_projection(vlm, sam)
        width = self.seg_projection[0].in_features
        self.seg_norm = SegStateNorm(width) if preset.seg_norm == "batch" else None
        self.seg_token_id = processor.seg_token_id
        inject_lora(preset, vlm)
        apply_policy(preset, vlm, sam, self.seg_projection)

    @classmethod
    def from_preset(cls, preset: ModelPreset, seed: int = 0) -> RSa2VA:
        """tiny: random init (deterministic by seed); real presets: pinned HF revisions (`init: released`:
        a released Sa2VA / R-Sa2VA checkpoint, read by models.convert)."""
        if preset.init == "released":
            from models.convert import load_released

            return load_released(released_dir(preset), preset)
        template = None
        if preset.init == "random":
            vlm, sam, tokenizer = build_random(preset, seed)
        else:
            vlm, sam, tokenizer = build_pretrained(preset)
            template = chat_template_of(preset.vlm.repo, preset.vlm.revision, tokenizer)
        processor = RSa2VAProcessor(tokenizer, processor_settings(preset, vlm, template))
        torch.manual_seed(seed)
        return cls(preset, vlm, sam, processor)

    @property
    def device(self) -> torch.device:
        return self.seg_projection[0].weight.device

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters left trainable by the preset's freezing/LoRA policy."""
        return [p for p in self.parameters() if p.requires_grad]

    def sam_features(self, sam_pixel_values: torch.Tensor) -> list[torch.Tensor]:
        """SAM 2 image features (FPN levels, last = decoder input), once per image."""
        grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.sam.vision_encoder.parameters())
        with torch.set_grad_enabled(grad):
            out = self.sam.get_image_features(sam_pixel_values.to(self.sam.dtype), return_dict=True)
            maps = list(out.fpn_hidden_states)
            maps[-1] = maps[-1] + self.sam.no_memory_embedding
            batch = sam_pixel_values.shape[0]
            return [
                m.permute(1, 2, 0).reshape(batch, -1, *size)
                for m, size in zip(maps, self.sam.backbone_feature_sizes)
            ]

    def decode_masks(self, features: list[torch.Tensor], index: int, prompts: torch.Tensor):
        """Low-res mask logits (K, h, w) and IoU scores (K,) of image `index` for K prompt vectors:
        per prompt, the best (highest predicted IoU) of SAM 2's three multimask outputs."""
        image = features[-1][index : index + 1]
        high_res = [f[index : index + 1] for f in features[:-1]]
        positional = self.sam.get_image_wide_positional_embeddings()
        encoder = self.sam.prompt_encoder
        dense = encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, *image.shape[-2:])
        k = prompts.shape[0]
        padding = encoder.not_a_point_embed.weight.to(image.dtype).expand(k, 2, -1)
        sparse = torch.cat([padding, prompts.to(image.dtype)[:, None, :]], dim=1)[None]  # (1, K, 3, C)
        masks, iou, _, object_scores = self.sam.mask_decoder(
            image_embeddings=image,
            image_positional_embeddings=positional,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=True,
            high_resolution_features=high_res,
        )
        best = iou[0].argmax(dim=-1)
        rows = torch.arange(k, device=best.device)
        # the IoU and object-score heads reach no loss; the zero term keeps them in the graph (DDP)
        scores = iou[0, rows, best] + object_scores.sum() * 0.0
        return masks[0, rows, best], scores

    def seg_masks(self, input_ids: torch.Tensor, hidden: torch.Tensor, sam_pixel_values: torch.Tensor):
        """Mask logits and scores of every `[SEG]` in `input_ids`, grouped per sample."""
        features = self.sam_features(sam_pixel_values)
        positions = [(ids == self.seg_token_id).nonzero(as_tuple=True)[0] for ids in input_ids]
        states = torch.cat([hidden[b, p] for b, p in enumerate(positions)]).to(self.seg_projection[0].weight.dtype)
        if self.seg_norm is not None and states.shape[0]:
            states = self.seg_norm(states)  # across the batch's [SEG]s: SegStateNorm
        prompts = self.seg_projection(states).split([len(p) for p in positions])
        logits, scores = [], []
        for b in range(input_ids.shape[0]):
            if len(positions[b]) == 0:
                size = features[0].shape[-1]
                logits.append(hidden.new_zeros(0, size, size))
                scores.append(hidden.new_zeros(0))
                continue
            mask, score = self.decode_masks(features, b, prompts[b])
            logits.append(mask)
            scores.append(score)
        return logits, scores

    def _upsample(self, logits: torch.Tensor) -> torch.Tensor:
        size = self.preset.mask_loss_size
        if logits.shape[0] == 0:
            return logits.new_zeros(0, size, size, dtype=torch.float32)
        return F.interpolate(logits[:, None].float(), size=(size, size), mode="bilinear")[:, 0]

    @staticmethod
    def _pair_masks(preds: list[torch.Tensor], gt_masks: list[torch.Tensor], ids: list[str]):
        for pred, gt, sid in zip(preds, gt_masks, ids):
            if pred.shape[0] != gt.shape[0]:
                raise ValueError(
                    f"sample {sid}: {pred.shape[0]} [SEG] tokens in the input but {gt.shape[0]} masks"
                )
        return torch.cat(preds), torch.cat([gt.to(p.device) for p, gt in zip(preds, gt_masks)])

    def mask_losses(self, preds: list[torch.Tensor], gt_masks: list[torch.Tensor], is_box: list[torch.Tensor]):
        """(BCE, Dice, box projection) over every sample's mask slots, as the preset's `loss` section says:
        BCE + Dice on mask targets, the box projection loss on box targets (None of a kind absent)."""
        cfg = self.preset.loss
        slot_preds, slot_targets, slot_box = [], [], []
        for pred, gt, box in zip(preds, gt_masks, is_box):
            if pred.shape[0] == 0:
                continue
            index = mask_slots(pred.shape[0], cfg.mask_slots).to(pred.device)
            slot_preds.append(pred[index])
            slot_targets.append(gt.to(pred.device)[index])
            slot_box.append(box.to(pred.device)[index])
        pred, target, box = torch.cat(slot_preds), torch.cat(slot_targets), torch.cat(slot_box)
        box_loss = box_projection_loss(pred[box], target[box]) if box.any() else None
        if box.all():
            return None, None, box_loss
        pred, target = pred[~box], target[~box]
        if cfg.mask_loss == "points":
            pred, target = sample_points(
                pred, target, cfg.num_points, cfg.oversample_ratio, cfg.importance_ratio
            )
        return mask_bce(pred, target), mask_dice(pred, target), box_loss

    def _mask_terms(self, pred_masks, gt_masks, gt_is_box, ids, zero):
        """(BCE, Dice, box loss or None, IoU or None); IoU is over mask targets only (a box is no mask)."""
        preds, targets = self._pair_masks(pred_masks, gt_masks, ids)
        if not preds.shape[0]:
            return zero, zero, None, None
        flags = gt_is_box or [torch.zeros(g.shape[0], dtype=torch.bool) for g in gt_masks]
        boxed = torch.cat([f.to(preds.device) for f in flags])
        iou = None if boxed.all() else mask_iou(preds[~boxed], targets[~boxed])
        bce, dice, box = self.mask_losses(pred_masks, gt_masks, flags)
        return (zero, zero, box, iou) if bce is None else (bce, dice, box, iou)

    def labelled_logits(self, hidden: torch.Tensor, labels: torch.Tensor):
        """The lm head only where the next token is labelled: logits (N, V), their N target ids, and the
        (B, T-1) mask `labels[:, 1:] != -100` they were taken at (row-major)."""
        targets = labels[:, 1:].to(hidden.device)
        labelled = targets != -100
        return self.vlm.lm_head(hidden[:, :-1][labelled]), targets[labelled], labelled

    def forward(
        self,
        input_ids,
        attention_mask,
        mm_token_type_ids,
        pixel_values,
        image_grid_thw,
        sam_pixel_values,
        labels=None,
        gt_masks=None,
        gt_is_box=None,
        sample_ids=None,
        image_sizes=None,
    ) -> RSa2VAOutput:
        """Teacher-forced forward: CE on `labels`, mask losses against `gt_masks` (one per `[SEG]`; those
        `gt_is_box` marks are boxes, trained with the box projection loss).

        `sample_ids` name the samples in errors; `image_sizes` (from collate) is accepted and unused.
        """
        hidden = self.vlm.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            mm_token_type_ids=mm_token_type_ids,
            pixel_values=pixel_values.to(self.vlm.dtype),
            image_grid_thw=image_grid_thw,
            use_cache=False,
        ).last_hidden_state
        ce = token_ce = token_rows = None
        if labels is None:
            lm_logits = self.vlm.lm_head(hidden)
        else:  # CE as transformers' causal-LM loss (fp32, mean over labelled tokens), logits only where needed
            lm_logits, targets, labelled = self.labelled_logits(hidden, labels)
            per_token = F.cross_entropy(lm_logits.float(), targets, reduction="none")
            ce = per_token.mean()
            token_ce, token_rows = per_token.detach(), labelled.nonzero()[:, 0]
        logits, scores = self.seg_masks(input_ids, hidden, sam_pixel_values)
        pred_masks = [self._upsample(m) for m in logits]
        zero = lm_logits.sum() * 0.0 + sum(p.sum() * 0.0 for p in self.seg_projection.parameters())
        heads = sum(s.sum() * 0.0 for s in scores)  # the IoU / object-score heads, in the graph for DDP
        bce = dice = zero
        iou = box = None
        if gt_masks is not None:
            ids = sample_ids or [str(i) for i in range(input_ids.shape[0])]
            bce, dice, box, iou = self._mask_terms(pred_masks, gt_masks, gt_is_box, ids, zero)
        loss = None
        if labels is not None:
            w = self.preset.loss
            loss = w.ce * ce + w.bce * bce + w.dice * dice + heads
            if box is not None:
                loss = loss + w.box * box
        return RSa2VAOutput(loss, ce, bce, dice, iou, lm_logits, pred_masks, scores, box, token_ce, token_rows)
