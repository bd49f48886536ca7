"""Modeling: forward shapes, one mask per [SEG], loss terms, gradients, freezing/LoRA policy."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models import RSa2VA, load_preset
from models.config import LoraPolicy, TrainPolicy


def test_deterministic_by_seed(tiny_preset, tiny_model):
    again = RSa2VA.from_preset(tiny_preset, seed=0)
    other = RSa2VA.from_preset(tiny_preset, seed=1)
    a, b, c = (m.seg_projection[0].weight for m in (tiny_model, again, other))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(tiny_model.vlm.lm_head.weight, again.vlm.lm_head.weight)


def test_forward_shapes_and_losses(tiny_model, samples):
    batch = tiny_model.processor.collate(samples, train=True)
    out = tiny_model(**batch)
    vocab = len(tiny_model.processor.tokenizer)
    labelled = batch["labels"][:, 1:] != -100
    assert out.logits.shape == (int(labelled.sum()), vocab)  # only where the next token is labelled
    assert out.token_rows.tolist() == labelled.nonzero()[:, 0].tolist()
    assert [m.shape for m in out.pred_masks] == [(3, 64, 64), (3, 64, 64)]
    assert [s.shape for s in out.mask_scores] == [(3,), (3,)]
    w = tiny_model.preset.loss
    expect = w.ce * out.loss_ce + w.bce * out.loss_mask_bce + w.dice * out.loss_mask_dice
    assert torch.allclose(out.loss, expect)
    assert 0.0 <= float(out.mask_iou) <= 1.0 and not out.mask_iou.requires_grad
    tiny_model.zero_grad()
    out.loss.backward()
    # every trainable parameter is in the graph (no unused parameters for DDP); all but the heads whose
    # outputs only choose the mask (IoU, object score) get a non-zero gradient
    assert [n for n, p in tiny_model.named_parameters() if p.requires_grad and p.grad is None] == []
    zero = {n.split(".")[2] for n, p in tiny_model.named_parameters() if p.requires_grad and not p.grad.any()}
    assert zero <= {"iou_prediction_head", "pred_obj_score_head", "output_hypernetworks_mlps"}
    assert "iou_prediction_head" in zero
    tiny_model.zero_grad()


def test_ce_equals_the_full_logits_loss(tiny_model, samples):
    """The lm head runs only where a label is: the same CE and logits as transformers' forward over all."""
    batch = tiny_model.processor.collate(samples, train=True)
    tiny_model.eval()
    with torch.no_grad():
        out = tiny_model(**batch)
        keys = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw", "labels")
        full = tiny_model.vlm(**{k: batch[k] for k in keys}, use_cache=False)
        without = tiny_model(**{k: v for k, v in batch.items() if k not in ("labels", "gt_masks")})
    tiny_model.train()
    labelled = batch["labels"][:, 1:] != -100
    assert torch.allclose(out.loss_ce, full.loss, rtol=1e-6, atol=0)
    assert torch.allclose(out.logits, full.logits[:, :-1][labelled], rtol=1e-5, atol=1e-6)
    assert torch.allclose(without.logits, full.logits, rtol=1e-5, atol=1e-6)
    assert without.token_ce is None and without.loss is None
    rows = [float(out.token_ce[out.token_rows == r].sum()) for r in range(2)]
    assert sum(rows) / int(labelled.sum()) == pytest.approx(float(out.loss_ce), rel=1e-6)


def test_masks_count_equals_seg_count(tiny_model, samples):
    samples[1]["reasoning"] = "only <ref:o1>"
    batch = tiny_model.processor.collate(samples, train=True)
    out = tiny_model(**batch)
    seg = tiny_model.seg_token_id
    counts = [int((row == seg).sum()) for row in batch["input_ids"]]
    assert counts == [3, 2]
    assert [m.shape[0] for m in out.pred_masks] == counts


def test_gt_mask_mismatch_is_an_error(tiny_model, samples):
    batch = tiny_model.processor.collate(samples, train=True)
    batch["gt_masks"][1] = batch["gt_masks"][1][:2]
    with pytest.raises(ValueError, match=r"sample synth-1: 3 \[SEG\] tokens in the input but 2 masks"):
        tiny_model(**batch)


def test_sam_features_shared_per_image(tiny_model, samples, monkeypatch):
    calls = []
    original = tiny_model.sam.get_image_features

    def counting(pixels, **kw):
        calls.append(pixels.shape[0])
        return original(pixels, **kw)

    monkeypatch.setattr(tiny_model.sam, "get_image_features", counting)
    tiny_model(**tiny_model.processor.collate(samples, train=True))
    assert calls == [2]  # one encoder pass for the batch of 2 images, 6 [SEG]s


def _trainable(model: RSa2VA) -> dict[str, int]:
    parts = {
        "vision": model.vlm.model.visual,
        "llm": model.vlm.model.language_model,
        "sam_encoder": model.sam.vision_encoder,
        "mask_decoder": model.sam.mask_decoder,
        "projection": model.seg_projection,
    }
    return {k: sum(p.numel() for p in m.parameters() if p.requires_grad) for k, m in parts.items()}


def test_paper_policy_with_lora(tiny_preset):
    """The authors' trainable set: LoRA on every Linear of the language model, the whole mask decoder,
    the projection; embeddings, lm_head, vision tower, SAM encoder and prompt encoder frozen."""
    policy = TrainPolicy(lora=LoraPolicy(r=4, alpha=8, dropout=0.05), train_embeddings=False)
    model = RSa2VA.from_preset(dataclasses.replace(tiny_preset, policy=policy), seed=0)
    counts = _trainable(model)
    # LoRA on 7 linear layers x 2 layers: r * (in + out) each
    hidden, inter, q, kv = 64, 128, 4 * 16, 2 * 16
    per_layer = 4 * (
        (hidden + q) + (hidden + kv) * 2 + (q + hidden) + (hidden + inter) * 2 + (inter + hidden)
    )
    assert counts["llm"] == 2 * per_layer
    assert counts["vision"] == counts["sam_encoder"] == 0
    decoder = model.sam.mask_decoder
    assert counts["mask_decoder"] == sum(p.numel() for p in decoder.parameters())
    assert counts["projection"] == 64 * 64 + 64 + 64 * 64 + 64
    names = [n for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]
    assert names and all(".language_model." in n for n in names)
    wrapped = {n.rsplit(".lora_", 1)[0] for n in names}
    assert len(wrapped) == 2 * 7  # q k v o gate up down of both layers
    assert sum(p.numel() for p in model.trainable_parameters()) == sum(counts.values())
    assert not model.vlm.lm_head.weight.requires_grad
    assert not model.vlm.get_input_embeddings().weight.requires_grad
    assert not any(p.requires_grad for p in model.sam.prompt_encoder.parameters())


def test_tiny_trains_everything_used(tiny_model):
    frozen = {
        n.split(".")[1] + "." + n.split(".")[2]
        for n, p in tiny_model.named_parameters()
        if not p.requires_grad
    }
    assert frozen == {"prompt_encoder.mask_embed", "prompt_encoder.point_embed"}
    assert 1_000_000 < sum(p.numel() for p in tiny_model.parameters()) < 3_000_000


def test_unpinned_hub_preset_refused():
    with pytest.raises(ValueError, match="ByteDance/Sa2VA-Qwen3-VL-4B has no pinned revision"):
        RSa2VA.from_preset(load_preset("4b"))
    with pytest.raises(ValueError, match="Qwen/Qwen3-VL-4B-Instruct has no pinned revision"):
        RSa2VA.from_preset(load_preset("4b-base"))


def test_sample_without_objects(tiny_model, samples):
    samples[0].update(reasoning="nothing to see", answer="none", reasoning_ids=[], answer_ids=[])
    batch = tiny_model.processor.collate(samples, train=True)
    out = tiny_model(**batch)
    assert [m.shape for m in out.pred_masks] == [(0, 64, 64), (3, 64, 64)]
    only_empty = tiny_model(**tiny_model.processor.collate(samples[:1], train=True))
    assert float(only_empty.loss_mask_bce.detach()) == float(only_empty.loss_mask_dice.detach()) == 0.0
    assert only_empty.mask_iou is None and torch.equal(only_empty.loss, only_empty.loss_ce)


def test_seg_state_norm_batch_then_running_statistics():
    from models.modeling import SegStateNorm

    norm = SegStateNorm(3)
    x = torch.tensor([[1.0, 2.0, 3.0], [3.0, 6.0, 3.0]])
    assert torch.allclose(norm(x), torch.tensor([[-1.0, -1.0, 0.0], [1.0, 1.0, 0.0]]), atol=1e-4)  # batch stats
    assert torch.allclose(norm.running_mean, torch.tensor([0.1, 0.2, 0.15]))  # momentum 0.05
    assert torch.allclose(norm.running_var, torch.tensor([1.0 + 0.05, 1.0 + 0.35, 0.95]))  # unbiased batch var
    running = (norm.running_mean.clone(), norm.running_var.clone())
    expected = (x[:1] - running[0]) / torch.sqrt(running[1] + norm.eps)
    assert torch.allclose(norm(x[:1]), expected)  # one state while training: the running estimate, not updated
    assert torch.equal(norm.running_mean, running[0]) and torch.equal(norm.running_var, running[1])
    norm.eval()
    assert torch.allclose(norm(x), (x - running[0]) / torch.sqrt(running[1] + norm.eps))


def test_seg_norm_is_per_preset_and_inference_is_per_sample(tiny_preset, samples):
    assert tiny_preset.seg_norm == "batch"
    assert RSa2VA.from_preset(dataclasses.replace(tiny_preset, seg_norm="none"), seed=0).seg_norm is None
    with pytest.raises(ValueError, match=r"seg_norm must be one of \['none', 'batch'\], got 'layer'"):
        dataclasses.replace(tiny_preset, seg_norm="layer")
    model = RSa2VA.from_preset(tiny_preset, seed=0).eval()
    with torch.no_grad():
        both = model(**model.processor.collate(samples, train=True)).pred_masks
        alone = model(**model.processor.collate(samples[:1], train=True)).pred_masks
    assert torch.allclose(both[0], alone[0], atol=1e-5)  # eval: running statistics, no other sample leaks in
    model.train()
    with torch.no_grad():
        model(**model.processor.collate(samples, train=True))
    assert int(model.seg_norm.num_batches_tracked) == 1 and model.seg_norm.running_mean.abs().sum() > 0
