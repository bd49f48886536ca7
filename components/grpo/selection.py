"""Prompt selection: keep the prompts whose rewards vary most under the SFT model (the paper's "2k high-variance").

    keep = select_high_variance([[1, 0, 1, 0], [1, 1, 1, 1]], keep=1)     # [0]

A prompt whose rollouts all earn the same reward has zero advantage in GRPO and teaches nothing;
ranking by the (population) variance of the rewards of its rollouts keeps the informative ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def reward_variances(rewards_per_prompt: Sequence[Sequence[float]]) -> list[float]:
    """Population variance of each prompt's rollout rewards (each prompt needs >= 2 rollouts)."""
    out = []
    for i, rewards in enumerate(rewards_per_prompt):
        if len(rewards) < 2:
            raise ValueError(f"prompt {i} has {len(rewards)} rollout reward(s): a variance needs at least 2")
        out.append(float(np.var(np.asarray(rewards, np.float64))))
    return out


def select_high_variance(rewards_per_prompt: Sequence[Sequence[float]], keep: int) -> list[int]:
    """Indices of the `keep` highest-variance prompts (ties: earlier prompt first), in dataset order."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep}")
    variances = reward_variances(rewards_per_prompt)
    order = sorted(range(len(variances)), key=lambda i: (-variances[i], i))
    return sorted(order[:keep])
