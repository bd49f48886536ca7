"""HFGenerateEngine: rollouts with transformers' `generate` on the policy itself (CPU or GPU).

    engine = HFGenerateEngine(policy)
    settings = SamplingSettings(n=4, temperature=1.2, top_p=0.9, max_new_tokens=64)
    ids = engine.generate(images, questions, settings)

The engine shares the policy's weights, so `sync` has nothing to copy. Sampling is seeded
(`settings.seed`) through a forked RNG, leaving the caller's random state untouched.
"""

from __future__ import annotations

from typing import Any

import torch

from components.grpo.rollout import SamplingSettings, repeat
from models.generation import eval_mode


class HFGenerateEngine:
    """In-process sampling with `RSa2VA.generate_ids`."""

    name = "hf"

    def __init__(self, policy: Any, batch_size: int = 16) -> None:
        self.policy = policy
        self.batch_size = batch_size

    def generate(
        self, images: list[Any], questions: list[str], settings: SamplingSettings
    ) -> list[list[int]]:
        all_images, all_questions = repeat(images, settings.n), repeat(questions, settings.n)
        devices = [self.policy.device] if self.policy.device.type == "cuda" else []
        out: list[list[int]] = []
        with eval_mode(self.policy), torch.random.fork_rng(devices=devices):
            torch.manual_seed(settings.seed)
            for s in range(0, len(all_images), self.batch_size):
                out += self.policy.generate_ids(
                    all_images[s : s + self.batch_size],
                    all_questions[s : s + self.batch_size],
                    max_new_tokens=settings.max_new_tokens,
                    do_sample=True,
                    temperature=settings.temperature,
                    top_p=settings.top_p,
                )
        return out

    def sync(self, policy: Any) -> None:
        """Nothing to copy: generation runs on the trained module itself."""
        self.policy = policy

    def close(self) -> None:
        self.policy = None
