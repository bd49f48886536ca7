"""How much `vrt_answer_iou` moves when predictions arrive at image size instead of SAM 2's 256² grid.

The authors threshold SAM 2's 256x256 low-res logits directly; our rollouts publish each mask at image
size (logits 256 -> 1024 -> (h, w) bilinear, > 0), which the reward resizes back to 256x256 (torch
`nearest`). This prints, over random smooth single-object logit maps and jittered GT masks at random
image sizes, the reward both ways: mean and max |difference|, the share of samples where they are equal
and the share where one passes the 0.5 IoU threshold and the other does not.

    .venv/bin/python benchmarks/grpo_reward_resolution.py [--samples 300] [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F

from components.grpo.rewards import RewardSample, vrt_answer_iou
from evaluation import masks


def blob_logits(rng: np.random.Generator, size: int = 256) -> torch.Tensor:
    """A smooth logit map: 1-3 Gaussian bumps minus an offset (positive inside the object)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    field = np.zeros((size, size), np.float32)
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(0.2, 0.8, 2) * size
        sy, sx = rng.uniform(0.04, 0.2, 2) * size
        field += np.exp(-(((yy - cy) / sy) ** 2 + ((xx - cx) / sx) ** 2) / 2)
    return torch.from_numpy(8.0 * (field - 0.5))


def up(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(logits[None, None], size=size, mode="bilinear")[0, 0]


def one(rng: np.random.Generator) -> tuple[float, float]:
    h, w = (int(v) for v in rng.integers(300, 1600, 2))
    logits = blob_logits(rng)
    jitter = up(torch.from_numpy(rng.normal(0, 1.5, (16, 16)).astype(np.float32)), (h, w))
    gt = masks.encode(((up(logits, (h, w)) + jitter) > 0).numpy())
    text = "<think>x</think><answer>[SEG]</answer>"
    theirs = masks.encode((logits > 0).numpy())  # the 256x256 low-res mask
    ours = masks.encode((up(up(logits, (1024, 1024)), (h, w)) > 0).numpy())
    a = vrt_answer_iou([RewardSample(text, (theirs,), (gt,))])[0]
    b = vrt_answer_iou([RewardSample(text, (ours,), (gt,))])[0]
    return a, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    pairs = np.array([one(rng) for _ in range(args.samples)])
    diff = np.abs(pairs[:, 0] - pairs[:, 1])
    flips = ((pairs[:, 0] > 0) != (pairs[:, 1] > 0)).mean()
    print(f"samples                 {args.samples}")
    print(f"mean reward (256 grid)  {pairs[:, 0].mean():.4f}")
    print(f"mean reward (image)     {pairs[:, 1].mean():.4f}")
    print(f"mean |difference|       {diff.mean():.5f}")
    print(f"max |difference|        {diff.max():.5f}")
    print(f"equal                   {(diff == 0).mean():.3f}")
    print(f"threshold flips         {flips:.3f}")


if __name__ == "__main__":
    main()
