"""The `grpo:` section: defaults, overrides (bare keys go to grpo.), validation errors that name the fix."""

from __future__ import annotations

import pytest

from components.grpo.config import GRPOConfig, grpo_config_from_dict, load_grpo_config
from vrt.errors import UserError


def test_defaults_are_the_papers():
    c = GRPOConfig()
    assert (c.group_size, c.temperature, c.top_p, c.max_new_tokens, c.lr, c.epochs, c.kl_coef) == (
        4,
        1.2,
        0.9,
        1024,
        1e-5,
        1,
        0.0,
    )
    assert c.rewards == {"vrt_format": 1.0, "vrt_answer_iou": 1.0} and c.freeze_mask_decoder
    assert (c.loss_reduction, c.mask_loss) == ("sequence", False)


def test_4b_grpo_is_the_authors_recipe():
    """vrt_qwen3_4b_grpo_0801_2k_filtered.py: lr 1e-5, wd 0.05, frozen SAM 2, train_segmentation_grpo."""
    g = load_grpo_config("4b").grpo
    assert (g.lr, g.weight_decay, g.grad_clip, g.group_size, g.temperature, g.top_p) == (
        1e-5,
        0.05,
        1.0,
        4,
        1.2,
        0.9,
    )
    assert (g.max_new_tokens, g.kl_coef, g.clip_eps, g.updates_per_batch) == (1024, 0.0, None, 1)
    assert (g.loss_reduction, g.mask_loss, g.freeze_mask_decoder) == ("sequence", True, True)
    assert g.rewards == {"vrt_format": 1.0, "vrt_answer_iou": 1.0}


def test_overrides_and_coercion():
    job = load_grpo_config(
        "tiny",
        [
            "init_from=/m",
            "grpo.lr=1e-6",
            "grpo.rewards.no_repeat=0.5",
            "clip_eps=null",
            "grpo.max_steps=2",
            "grpo.k8s_secrets=[a, b]",
        ],
    )
    g = job.grpo
    assert (job.model, g.init_from, g.lr, g.clip_eps, g.max_steps, g.k8s_secrets) == (
        "tiny",
        "/m",
        1e-6,
        None,
        2,
        ("a", "b"),
    )
    assert g.rewards["no_repeat"] == 0.5
    assert job.to_params()["grpo.lr"] == 1e-6


@pytest.mark.parametrize(
    "override, message",
    [
        ("group_size=1", "grpo.group_size must be >= 2"),
        ("engine=sglang", "grpo.engine must be one of hf, vllm"),
        ("engine=vllm", "grpo.engine=vllm needs a GPU"),
        ("grpo.rewards.iou=1", r"unknown rewards \['iou'\]: valid rewards are no_repeat"),
        ("lr=fast", "grpo.lr must be float"),
        ("use_gpu=3", "grpo.use_gpu must be bool"),
        ("grpo.lrate=1", r"unknown grpo keys \['lrate'\]"),
        ("clip_eps=1.5", "grpo.clip_eps must be in"),
        ("zero_stage=3", "ZeRO-3 is not supported"),
        ("use_gpu=true", "gpu.count is 0"),
        ("grpo.rewards={}", "grpo.rewards is empty"),
        ("loss_reduction=mean", "grpo.loss_reduction must be sequence .* or token"),
        ("mask_loss=maybe", "grpo.mask_loss must be bool"),
    ],
)
def test_bad_values_are_user_errors(override, message):
    with pytest.raises(UserError, match=message):
        load_grpo_config("tiny", [override])


def test_plain_dict_loader_raises_value_error():
    with pytest.raises(ValueError, match="section 'grpo' must be a mapping"):
        grpo_config_from_dict(["x"])
    assert grpo_config_from_dict(None) == GRPOConfig()
