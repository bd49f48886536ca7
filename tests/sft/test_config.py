"""SFT config loading: presets, overrides, close-match errors, incompatible settings, GPU settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.sft.config import PRESETS_DIR, gpu_settings, load_train_config
from vrt.errors import UserError


@pytest.mark.parametrize(
    ("preset", "workers", "accum", "zero", "gpu"),
    [
        ("tiny", 1, 1, 2, False),
        ("2b", 4, 16, 2, True),
        ("4b", 8, 8, 2, True),
        ("4b-base", 8, 8, 2, True),
        ("8b", 16, 4, 2, True),
    ],
)
def test_every_preset_loads(preset: str, workers: int, accum: int, zero: int, gpu: bool) -> None:
    cfg = load_train_config(f"pipelines/presets/{preset}.yaml")
    assert (cfg.model, cfg.sft.num_workers, cfg.sft.grad_accum, cfg.sft.zero_stage, cfg.sft.use_gpu) == (
        preset, workers, accum, zero, gpu)
    header = (PRESETS_DIR / f"{preset}.yaml").read_text().splitlines()[:6]
    assert any(f"vrt train sft --config pipelines/presets/{preset}.yaml" in line for line in header)


def test_paper_hyperparameters_in_4b() -> None:
    sft = load_train_config("4b").sft
    assert (sft.lr, sft.weight_decay, sft.grad_clip, sft.global_batch_size, sft.epochs, sft.warmup_ratio) == (
        4e-5, 0.05, 1.0, 64, 1, 0.05)


def test_overrides_are_yaml_values() -> None:
    cfg = load_train_config("tiny", ["sft.lr=3e-4", "sft.num_workers=1", "sft.micro_batch_size=4", "sft.adam_betas=[0.8, 0.9]",
                                     "grpo.group_size=4"])
    assert (cfg.sft.lr, cfg.sft.num_workers, cfg.sft.adam_betas, cfg.sft.grad_accum) == (3e-4, 1, (0.8, 0.9), 2)
    assert cfg.raw["grpo"]["group_size"] == 4
    assert cfg.to_params()["sft.lr"] == 3e-4


def test_unknown_key_lists_close_matches() -> None:
    with pytest.raises(UserError, match=r"unknown config key sft.learning_rat \(did you mean sft\.") as e:
        load_train_config("tiny", ["sft.learning_rat=1"])
    assert "unknown config key sft.zero_stag (did you mean sft.zero_stage?)" in str(
        pytest.raises(UserError, load_train_config, "tiny", ["sft.zero_stag=3"]).value)
    assert e.type is UserError


def test_other_sections_are_tolerated(tmp_path: Path) -> None:
    raw = yaml.safe_load((PRESETS_DIR / "tiny.yaml").read_text())
    raw["grpo"] = {"anything": 1}
    raw["deploy"] = {"replicas": 2}  # another step's section: its own loader validates it
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw))
    assert load_train_config(str(path)).raw["deploy"] == {"replicas": 2}


def test_batch_not_divisible_says_what_to_set() -> None:
    with pytest.raises(UserError, match=r"not divisible by micro_batch_size x num_workers = 6: set sft.global_batch_size=6"):
        load_train_config("tiny", ["sft.num_workers=3", "sft.micro_batch_size=2", "sft.global_batch_size=8"])


def test_zero3_with_frozen_language_model_is_rejected() -> None:
    with pytest.raises(UserError, match=r"sft.zero_stage=3 .* freezes the language model .* set sft.zero_stage=2"):
        load_train_config("4b", ["sft.zero_stage=3"])
    assert load_train_config("tiny", ["sft.zero_stage=3"]).sft.zero_stage == 3


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sft.strategy=fsdp", "sft.strategy must be deepspeed or ddp, got 'fsdp'"),
        ("sft.zero_stage=4", "sft.zero_stage must be 0, 1, 2 or 3, got 4"),
        ("sft.use_gpu=true", "sft.use_gpu is true but gpu.count is 0: set gpu.count=1"),
        ("model=13b", "model: unknown model preset '13b'"),
        ("sft=3", "section 'sft' must be a mapping"),
        ("gpu.tolerations=[{colour: red}]", "gpu.tolerations entries are mappings"),
        ("sft.lr", "override 'sft.lr' is not key=value"),
        ("sft.vlm_lr_scale=0", "sft.vlm_lr_scale must be > 0 (1.0 = one learning rate), got 0"),
    ],
)
def test_bad_settings(override: str, message: str) -> None:
    with pytest.raises(UserError) as e:
        load_train_config("tiny", [override])
    assert message in str(e.value)


def test_unknown_preset_lists_presets() -> None:
    with pytest.raises(UserError, match="one of the presets 2b, 4b, 4b-base, 8b, tiny"):
        load_train_config("huge")


def test_gpu_settings_for_the_pipeline() -> None:
    assert gpu_settings("4b") == {
        "accelerator_type": "nvidia.com/gpu",
        "accelerator_limit": 1,
        "cpu_limit": "8",
        "memory_limit": "64Gi",
        "node_selector": {"vrt.dev/gpu-pool": "true"},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}],
    }
    assert gpu_settings("tiny")["accelerator_limit"] == 0
