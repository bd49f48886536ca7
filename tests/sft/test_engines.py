"""Engines without Ray: the LR schedule, and a DDP (single-process) checkpoint round trip in safetensors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from components.sft.config import SFTConfig
from components.sft.engines import DDPEngine, lr_lambda, param_groups


def test_warmup_then_cosine() -> None:
    f = lr_lambda(warmup=2, total=6)
    assert [round(f(s), 6) for s in range(7)] == [0.333333, 0.666667, 1.0, 0.853553, 0.5, 0.146447, 0.0]


class WithVLM(nn.Module):
    """The shape `param_groups` looks for: a `vlm` part (one frozen layer) beside the mask parts."""

    def __init__(self) -> None:
        super().__init__()
        self.vlm = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
        self.vlm[0].requires_grad_(False)
        self.sam = nn.Linear(2, 3)


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        (1.0, [(0.01, ["sam.bias", "sam.weight", "vlm.1.bias", "vlm.1.weight"])]),
        (0.1, [(0.01, ["sam.bias", "sam.weight"]), (0.001, ["vlm.1.bias", "vlm.1.weight"])]),
    ],
)
def test_param_groups_scale_only_the_vlm(scale: float, expected: list) -> None:
    model = WithVLM()
    names = {id(p): n for n, p in model.named_parameters()}
    groups = param_groups(model, 0.01, scale)
    assert [(pytest.approx(g["lr"]), sorted(names[id(p)] for p in g["params"])) for g in groups] == expected


def test_scaled_groups_follow_one_schedule() -> None:
    sft = SFTConfig(num_workers=1, micro_batch_size=1, global_batch_size=1, lr=0.01, vlm_lr_scale=0.1,
                    strategy="ddp", warmup_ratio=0.5)
    engine = DDPEngine(WithVLM(), sft, total_steps=2)
    assert [round(lr, 6) for lr in engine.scheduler.get_last_lr()] == [0.005, 0.0005]
    assert engine.lr() == pytest.approx(0.005)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.frozen = nn.Linear(3, 4)
        self.norm = nn.BatchNorm1d(4, affine=False)  # running statistics: buffers a checkpoint carries
        self.head = nn.Linear(4, 1)
        self.frozen.requires_grad_(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor):
        loss = ((self.head(torch.relu(self.norm(self.frozen(x)))) - y) ** 2).mean()
        return type("Out", (), {"loss": loss})()


def _engine(seed: int = 0) -> DDPEngine:
    torch.manual_seed(seed)
    sft = SFTConfig(num_workers=1, micro_batch_size=2, global_batch_size=4, lr=0.1, strategy="ddp", warmup_ratio=0.25)
    return DDPEngine(Tiny(), sft, total_steps=4)


def _step(engine: DDPEngine, batches) -> tuple[bool, float]:
    for x, y in batches:
        out = engine.forward({"x": x, "y": y})
        engine.backward(out.loss)
        stepped, norm = engine.step()
    return stepped, norm


def test_ddp_checkpoint_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    batches = [(torch.randn(2, 3), torch.randn(2, 1)) for _ in range(4)]
    a = _engine()
    assert _step(a, batches[:1]) == (False, 0.0)
    stepped, _ = _step(a, batches[1:2])
    assert stepped and a.lr() == pytest.approx(0.1 * 2 / 2)
    a.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["optimizer.json", "optimizer.safetensors", "trainable.safetensors"]
    b = _engine(seed=5)  # different init: everything trainable must come from the checkpoint
    b.load(tmp_path)
    assert torch.equal(b.model.norm.running_mean, a.model.norm.running_mean)
    assert int(b.model.norm.num_batches_tracked) == 2 and b.model.norm.running_mean.abs().sum() > 0
    b.model.frozen.load_state_dict(a.model.frozen.state_dict())
    _step(a, batches[2:])
    _step(b, batches[2:])
    assert torch.equal(a.model.head.weight, b.model.head.weight)
    assert a.lr() == b.lr() and a.scheduler.last_epoch == b.scheduler.last_epoch == 2
