"""Rollouts behind one interface: an engine samples completion token ids, the policy adds the masks.

    engine = make_rollout_engine(cfg, policy)             # HFGenerateEngine or VLLMEngine
    batch = collect_rollouts(engine, policy, images, questions, settings)
    batch.traces[i]            # models.Trace: text, [SEG] roles, one RLE mask per [SEG], token ids
    engine.sync(policy)        # after each update (vLLM copies the weights; HF shares them)

Whatever generated the text, the masks come from one teacher-forced forward of the *policy*
over prompt + completion (`RSa2VA.masks_for_sequences`), so both engines yield identical
traces for identical token ids. Rollouts are prompt-major: prompt p's group is
`traces[p * n : (p + 1) * n]`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class SamplingSettings:
    """How rollouts are sampled: `n` completions per prompt."""

    n: int
    temperature: float
    top_p: float
    max_new_tokens: int
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n < 1 or self.max_new_tokens < 1 or self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ValueError(
                f"bad sampling settings {self}: need n >= 1, max_new_tokens >= 1, temperature > 0, "
                "top_p in (0, 1]"
            )


class RolloutEngine(Protocol):
    """Samples completions; `generate` returns n token-id lists per prompt, prompt-major."""

    name: str

    def generate(
        self, images: list[Any], questions: list[str], settings: SamplingSettings
    ) -> list[list[int]]: ...

    def sync(self, policy: Any) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class RolloutBatch:
    """Traces (with masks) of one rollout round and where its time went."""

    traces: list[Any]
    generate_s: float
    masks_s: float

    @property
    def tokens(self) -> int:
        return sum(len(t.token_ids) for t in self.traces)

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / max(self.generate_s, 1e-9)


def repeat(items: list[Any], n: int) -> list[Any]:
    """Each item n times in a row (prompt-major order)."""
    return [x for x in items for _ in range(n)]


def collect_rollouts(
    engine: RolloutEngine,
    policy: Any,
    images: list[Any],
    questions: list[str],
    settings: SamplingSettings,
    mask_batch: int = 8,
) -> RolloutBatch:
    """n completions per prompt from `engine`, then the policy's masks for every `[SEG]`."""
    if len(images) != len(questions) or not images:
        raise ValueError(
            f"need one question per image and at least one prompt, got {len(images)} / {len(questions)}"
        )
    start = time.perf_counter()
    ids = engine.generate(images, questions, settings)
    if len(ids) != len(images) * settings.n:
        raise RuntimeError(
            f"engine {engine.name} returned {len(ids)} completions for {len(images)}x{settings.n}"
        )
    generated = time.perf_counter()
    all_images, all_questions = repeat(images, settings.n), repeat(questions, settings.n)
    traces: list[Any] = []
    for s in range(0, len(ids), mask_batch):  # masks_for_sequences runs in eval mode, then restores the mode
        traces += policy.masks_for_sequences(  # the decoder's low-res masks: what the reward compares
            all_images[s : s + mask_batch], all_questions[s : s + mask_batch], ids[s : s + mask_batch],
            low_res=True,
        )
    return RolloutBatch(traces, generated - start, time.perf_counter() - generated)


def make_rollout_engine(engine: str, policy: Any, gpu_memory_utilization: float = 0.4) -> RolloutEngine:
    """The engine named `engine` ('hf' or 'vllm') for `policy`."""
    if engine == "hf":
        from components.grpo.hf_engine import HFGenerateEngine

        return HFGenerateEngine(policy)
    if engine == "vllm":
        from components.grpo.vllm_engine import VLLMEngine

        return VLLMEngine(policy, gpu_memory_utilization=gpu_memory_utilization)
    raise ValueError(f"unknown rollout engine {engine!r}: use hf or vllm")
