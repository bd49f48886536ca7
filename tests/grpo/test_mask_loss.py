"""The auxiliary mask loss (the authors' `train_segmentation_grpo`) on the tiny model: it trains the
`[SEG]` projection through the frozen SAM 2 decoder, which gets no gradient; best-rollout targets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from components.grpo.policy import MaskTargets, PolicyLogProbs, apply_grpo_policy, best_rollout_targets
from evaluation import masks

TEXTS = (
    "<think>a [SEG]</think><answer>b [SEG]</answer>",
    "<think>a [SEG] c [SEG]</think><answer>b [SEG]</answer> [SEG]",
)


def _gt(height: int, width: int) -> dict:
    m = np.zeros((height, width), bool)
    m[: height // 2] = True
    return masks.encode(m)


def test_best_rollout_targets():
    adv = torch.tensor([0.5, 0.5, -1.0, 0.2, 0.9, 0.9, 0.0, 0.0])  # two groups of 4
    texts = [TEXTS[0], TEXTS[1], "", TEXTS[0], TEXTS[1], TEXTS[0], "", ""]
    other = masks.encode(np.eye(4, 6, dtype=bool))
    t = best_rollout_targets(texts, [(_gt(4, 6), other), (_gt(4, 6),)], adv, group_size=4)
    assert t.rows == (0, 4)  # ties: the first of the highest advantage
    assert t.keep == ((False, True), (False, False, True, True))  # after </answer>: kept, as theirs
    union = np.zeros((4, 6), bool)
    union[:2] = True
    union |= np.eye(4, 6, dtype=bool)
    assert t.gt[0].tolist() == union.tolist() and t.gt[1].shape == (4, 6)
    assert best_rollout_targets(texts, [(), ()], adv, 4) == MaskTargets((), (), ())  # no GT: no target


@pytest.fixture(scope="module")
def tiny():
    from models import RSa2VA, load_preset

    model = RSa2VA.from_preset(load_preset("tiny"), seed=0)
    apply_grpo_policy(model, freeze_mask_decoder=True, train_projection=True)
    return model


def _batch(model):
    proc = model.processor
    ids = [proc.tokenizer(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    return proc.sequence_batch([image, image], ["which one?", "which one?"], ids)


def test_mask_loss_trains_the_projection_not_the_frozen_decoder(tiny):
    assert all(not p.requires_grad for p in tiny.sam.parameters())
    assert all(p.requires_grad for p in tiny.seg_projection.parameters())
    batch = _batch(tiny)
    targets = best_rollout_targets(list(TEXTS), [(_gt(40, 56),)], torch.tensor([0.0, 1.0]), group_size=2)
    assert targets.rows == (1,) and targets.keep == ((False, False, True, True),)
    before = {k: v.detach().clone() for k, v in tiny.named_parameters()}
    optimizer = torch.optim.AdamW(tiny.trainable_parameters(), lr=1e-2)
    logp, loss = PolicyLogProbs(tiny)(targets=targets, **batch)
    assert logp.shape == (2, batch["input_ids"].shape[1] - 1)
    assert loss.item() > 0
    loss.backward()
    assert all(p.grad is None for p in tiny.sam.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in tiny.seg_projection.parameters())
    optimizer.step()
    after = dict(tiny.named_parameters())
    changed = {k for k in before if not before[k].equal(after[k].detach())}
    assert {f"seg_projection.{k}" for k, _ in tiny.seg_projection.named_parameters()} <= changed
    assert not any(k.startswith("sam.") for k in changed)
    plain = PolicyLogProbs(tiny)(**batch)
    assert isinstance(plain, torch.Tensor) and plain.shape == logp.shape


def test_log_probs_only_of_the_completion_tokens(tiny):
    """The lm head runs where a completion token is predicted: there the same log-probs as from the full
    logits, 0 at the prompt's positions (the loss masks them out)."""
    from components.grpo.objective import token_logprobs

    batch = _batch(tiny)
    with torch.no_grad():
        logp = PolicyLogProbs(tiny)(**batch)
        keys = ("input_ids", "attention_mask", "mm_token_type_ids", "pixel_values", "image_grid_thw")
        full = token_logprobs(tiny.vlm(**{k: batch[k] for k in keys}).logits[:, :-1], batch["input_ids"][:, 1:])
    scored = batch["labels"][:, 1:] != -100
    assert 0 < int(scored.sum()) < scored.numel()
    assert torch.allclose(logp[scored], full[scored], rtol=1e-5, atol=1e-5)
    assert not logp[~scored].any()


def test_mask_loss_is_zero_without_seg(tiny):
    targets = MaskTargets(rows=(0,), keep=((),), gt=(torch.zeros(40, 56, dtype=torch.bool),))
    ids = tiny.processor.tokenizer("<think>x</think><answer>y</answer>", add_special_tokens=False)[
        "input_ids"
    ]
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8))
    batch = tiny.processor.sequence_batch([image], ["which one?"], [ids])
    _, loss = PolicyLogProbs(tiny)(targets=targets, **batch)
    assert loss.item() == 0.0


def test_mask_loss_keeps_the_seg_norm_statistics(tiny):
    """A rollout's few `[SEG]` states are standardised with seg_norm's running statistics (as when its masks
    were drawn for the reward), which they leave as they were: the loss is the eval-mode one."""
    from models.generation import eval_mode

    norm = tiny.seg_norm
    assert norm is not None  # the tiny preset's seg_norm: batch
    norm.running_mean.fill_(0.5)
    norm.running_var.fill_(4.0)
    tracked = int(norm.num_batches_tracked)
    batch = _batch(tiny)
    targets = best_rollout_targets(list(TEXTS), [(_gt(40, 56),)], torch.tensor([0.0, 1.0]), group_size=2)
    tiny.train()
    _, loss = PolicyLogProbs(tiny)(targets=targets, **batch)
    assert tiny.training and norm.training  # the caller's mode is restored
    assert norm.running_mean.eq(0.5).all() and norm.running_var.eq(4.0).all()
    assert int(norm.num_batches_tracked) == tracked
    with eval_mode(tiny):
        _, want = PolicyLogProbs(tiny)(targets=targets, **batch)
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
