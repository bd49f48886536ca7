"""Per-step GRPO metrics, pooled over every worker's rollouts (identical on every rank after `reduce`).

    stats = StepStats(reward_names)
    stats.add_rewards(per_reward, totals, zero_groups, n_groups)       # every rank
    stats.add_loss(loss_stats, weight); stats.add_rollouts(batch)
    values = stats.reduce(timings)   # reward/<name>/mean|std, reward/total/mean|std, kl, clip_fraction, ...

Reward mean/std are over all rollouts of the step (sum and sum of squares all-reduced).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from components.sft.metrics import all_reduce_sum

LOSS_KEYS = ("policy_loss", "kl", "clip_fraction", "ratio_mean", "mask_loss")
ROLLOUT_KEYS = ("rollouts", "response_tokens", "generate_s", "masks_s", "zero_adv_groups", "groups")


class StepStats:
    """Sums of one step on one rank; `reduce` all-reduces them into means."""

    def __init__(self, reward_names: Sequence[str], with_kl: bool = True) -> None:
        self.with_kl = with_kl  # KL to the reference is only known when a reference model is loaded
        self.names = [*reward_names, "total"]
        self.rewards = torch.zeros(len(self.names), 3, dtype=torch.float64)  # sum, sum of squares, count
        self.loss = torch.zeros(len(LOSS_KEYS) + 1, dtype=torch.float64)  # weighted sums + token weight
        self.rollout = torch.zeros(len(ROLLOUT_KEYS), dtype=torch.float64)

    def add_rewards(
        self,
        per_reward: Mapping[str, Sequence[float]],
        totals: Sequence[float],
        zero_groups: int,
        n_groups: int,
    ) -> None:
        for i, name in enumerate(self.names):
            values = torch.tensor(list(totals if name == "total" else per_reward[name]), dtype=torch.float64)
            self.rewards[i] += torch.stack(
                [values.sum(), (values**2).sum(), torch.tensor(float(values.numel()))]
            )
        self.rollout[ROLLOUT_KEYS.index("zero_adv_groups")] += zero_groups
        self.rollout[ROLLOUT_KEYS.index("groups")] += n_groups

    def add_loss(self, stats, tokens: int) -> None:
        for i, key in enumerate(LOSS_KEYS):
            self.loss[i] += getattr(stats, key) * tokens
        self.loss[-1] += tokens

    def add_rollouts(self, n: int, response_tokens: int, generate_s: float, masks_s: float) -> None:
        for key, value in zip(ROLLOUT_KEYS[:4], (n, response_tokens, generate_s, masks_s)):
            self.rollout[ROLLOUT_KEYS.index(key)] += value

    def reduce(self, reward_s: float, update_s: float, step_s: float) -> dict[str, float]:
        import torch.distributed as dist

        flat = all_reduce_sum(torch.cat([self.rewards.flatten(), self.loss, self.rollout]))
        world = dist.get_world_size() if dist.is_initialized() else 1
        rewards = flat[: self.rewards.numel()].view_as(self.rewards)
        loss = flat[self.rewards.numel() : self.rewards.numel() + self.loss.numel()]
        roll = dict(zip(ROLLOUT_KEYS, flat[-self.rollout.numel() :].tolist()))
        values: dict[str, float] = {}
        for i, name in enumerate(self.names):
            total, squares, count = rewards[i].tolist()
            mean = total / max(count, 1.0)
            values[f"reward/{name}/mean"] = mean
            values[f"reward/{name}/std"] = math.sqrt(max(squares / max(count, 1.0) - mean * mean, 0.0))
        tokens = max(float(loss[-1]), 1.0)
        values |= {
            key: float(loss[i]) / tokens for i, key in enumerate(LOSS_KEYS) if key != "kl" or self.with_kl
        }
        gen_s = roll["generate_s"] / world  # workers generate in parallel: mean wall time
        values |= {
            "response_length": roll["response_tokens"] / max(roll["rollouts"], 1.0),
            "rollout_tokens_per_s": roll["response_tokens"] / max(gen_s, 1e-9),
            "zero_adv_group_fraction": roll["zero_adv_groups"] / max(roll["groups"], 1.0),
            "time/generate_s": gen_s,
            "time/masks_s": roll["masks_s"] / world,
            "time/reward_s": reward_s,
            "time/update_s": update_s,
            "step_time_s": step_s,
        }
        return values
