"""Model FLOPs of one R-Sa2VA LoRA training step, for MFU (what the step must compute, not what kernels do).

    counts = model_counts(model)                                   # read off the built model
    flops = lora_step_flops(counts, tokens=2000, patches=4096)     # one sequence of 2000 LLM positions

Per language-model position (N = base linear weights + LoRA A/B + lm_head; T = the trainable matrices
among them: LoRA, and lm_head when the (tied) embeddings train; the base weights only where they train):
  forward                      2·N
  backward, activation grads   2·N   (LoRA sits in every layer, so the gradient crosses all of them)
  backward, weight grads       2·T   (frozen weights get none)
  attention (causal)           L·(2·s·H·d) forward (QKᵀ and AV over half the context on average), ×3 with backward
Vision tower (frozen in the paper's policy, so no grad reaches it): forward only, 2·N_vis per patch
(mergers per merged token of 4 patches) + full attention 4·P·H·d per patch and layer; x3 when it trains
(tiny). SAM 2's image encoder and mask decoder are left out of the model FLOPs (MFU is conservative by
their share); the check also reports the FLOPs torch's FlopCounterMode counts over the whole step.
MFU = model FLOPs per step / step time / the bf16 matmul rate measured on the same card.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class ModelCounts:
    """The weights that matter for FLOPs, read off a built model."""

    llm_linear: int  # base weights of the language model's linear layers
    llm_linear_trainable: int  # those of them that train (0 under the paper's LoRA policy)
    lora: int  # LoRA A + B weights
    lm_head: int  # vocabulary x hidden
    lm_head_trainable: bool
    layers: int
    heads: int
    head_dim: int
    vis_linear: int  # vision blocks' linear weights + the patch embedding (per patch)
    vis_merger: int  # patch-merger weights (per merged token = 4 patches)
    vis_layers: int
    vis_heads: int
    vis_head_dim: int
    vis_trainable: bool  # a trainable vision tower (tiny) also runs backward: 3x its forward


def _linear_weights(module: nn.Module, skip: str = "") -> tuple[int, int, int]:
    """(base, trainable base, lora) weight counts of the linear/conv layers under `module` (names with `skip` out)."""
    base = trainable = lora = 0
    for name, m in module.named_modules():
        if (skip and skip in name) or not isinstance(m, nn.Linear | nn.Conv3d):
            continue
        if "lora_" in name:
            lora += m.weight.numel()
        else:
            base += m.weight.numel()
            trainable += m.weight.numel() if m.weight.requires_grad else 0
    return base, trainable, lora


def model_counts(model) -> ModelCounts:
    """ModelCounts of an RSa2VA (Qwen3-VL language model + vision tower)."""
    text, vision = model.vlm.config.text_config, model.vlm.config.vision_config
    llm = model.vlm.model.language_model
    base, base_trainable, lora = _linear_weights(llm.layers)
    visual = model.vlm.model.visual
    vis_base, _, _ = _linear_weights(visual, skip="merger")
    merger = sum(m.weight.numel() for n, m in visual.named_modules() if "merger" in n and isinstance(m, nn.Linear))
    head = model.vlm.lm_head.weight
    return ModelCounts(
        llm_linear=base, llm_linear_trainable=base_trainable, lora=lora, lm_head=head.numel(), lm_head_trainable=head.requires_grad,
        layers=text.num_hidden_layers, heads=text.num_attention_heads, head_dim=text.head_dim,
        vis_linear=vis_base, vis_merger=merger, vis_layers=vision.depth, vis_heads=vision.num_heads,
        vis_head_dim=vision.hidden_size // vision.num_heads,
        vis_trainable=any(p.requires_grad for p in visual.parameters()),
    )


def lora_step_flops(c: ModelCounts, tokens: int, patches: int) -> float:
    """Model FLOPs of forward + backward over one sequence of `tokens` LLM positions and `patches` image patches."""
    n = c.llm_linear + c.lora + c.lm_head
    trainable = c.llm_linear_trainable + c.lora + (c.lm_head if c.lm_head_trainable else 0)
    attention = c.layers * 2 * tokens * c.heads * c.head_dim  # causal: half of 2·2·s·H·d
    llm = tokens * (2 * n + 2 * n + 2 * trainable + 3 * attention)
    vision = patches * 2 * c.vis_linear + (patches // 4) * 2 * c.vis_merger
    vision += c.vis_layers * 4 * patches * patches * c.vis_heads * c.vis_head_dim
    return float(llm + vision * (3 if c.vis_trainable else 1))
