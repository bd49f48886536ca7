"""VLLMEngine on a GPU (skipped without CUDA or without the vllm package): the exported tiny Qwen3-VL
generates n completions per prompt, greedy decoding matches HF generate, and a weight sync changes them."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from components.grpo.rollout import SamplingSettings, collect_rollouts

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def policy():
    pytest.importorskip("vllm")
    from models import RSa2VA, load_preset

    return RSa2VA.from_preset(load_preset("tiny"), seed=0).to("cuda")


@pytest.fixture(scope="module")
def engine(policy):
    from components.grpo.vllm_engine import VLLMEngine

    e = VLLMEngine(policy, gpu_memory_utilization=0.2, max_model_len=1024)
    yield e
    e.close()


PROMPTS = (
    [Image.new("RGB", (64, 64), (200, 30, 30)), Image.new("RGB", (64, 96), (30, 30, 200))],
    ["Which object is red?", "Which object is blue?"],
)


def test_sampling_counts_and_masks(engine, policy):
    settings = SamplingSettings(n=4, temperature=1.2, top_p=0.9, max_new_tokens=16, seed=0)
    batch = collect_rollouts(engine, policy, *PROMPTS, settings)
    assert len(batch.traces) == 8
    assert all(1 <= len(t.token_ids) <= 17 for t in batch.traces)
    assert all(len(t.masks) == len(t.roles) for t in batch.traces)


def test_greedy_matches_hf_and_sync_moves_vllm(engine, policy):
    greedy = SamplingSettings(n=1, temperature=1e-4, top_p=1.0, max_new_tokens=8, seed=0)
    hf = policy.generate_ids(*PROMPTS, max_new_tokens=8)
    assert engine.generate(*PROMPTS, greedy) == hf
    with torch.no_grad():
        policy.vlm.lm_head.weight.add_(torch.randn_like(policy.vlm.lm_head.weight))
    engine.sync(policy)
    assert engine.generate(*PROMPTS, greedy) == policy.generate_ids(*PROMPTS, max_new_tokens=8) != hf
