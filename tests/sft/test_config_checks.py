"""Invalid training-config values are refused at load with the reason (SFT and GRPO alike)."""

from __future__ import annotations

import pytest
import yaml

from components.grpo.config import load_grpo_config
from components.sft.config import PRESETS_DIR, load_train_config
from vrt.errors import UserError


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("global_batch_size=0", "global_batch_size must be > 0, got 0"),
        ("global_batch_size=-4", "global_batch_size must be > 0, got -4"),
        ("lr=.nan", "lr must be a finite number, got nan"),
        ("lr=.inf", "lr must be a finite number, got inf"),
        ("lr=0", "lr must be > 0, got 0.0"),
        ("lr=-1e-5", "lr must be > 0, got -1e-05"),
        ("grad_clip=-1", "grad_clip must be >= 0, got -1.0"),
        ("weight_decay=-0.1", "weight_decay must be >= 0, got -0.1"),
        ("eval_samples=-1", "eval_samples must be >= 0, got -1"),
        ("k8s_timeout_s=0", "k8s_timeout_s must be > 0, got 0"),
        ("run_name=../escape", "run_name='../escape' must be a plain name"),
        ("run_name=a/b", "run_name='a/b' must be a plain name (no path separators"),
        ("run_name=..", "run_name='..' must be a plain name"),
    ],
)
def test_sft_rejects(override, message):
    with pytest.raises(UserError) as err:
        load_train_config("tiny", [f"sft.{override}"])
    assert f"sft.{message}" in str(err.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("lr=.nan", "grpo.lr must be a finite number, got nan"),
        ("lr=0", "grpo.lr must be > 0, got 0.0"),
        ("grad_clip=-0.5", "grpo.grad_clip must be >= 0, got -0.5"),
        ("weight_decay=-1", "grpo.weight_decay must be >= 0, got -1.0"),
        ("k8s_timeout_s=-5", "grpo.k8s_timeout_s must be > 0, got -5"),
        ("temperature=.inf", "grpo.temperature must be a finite number, got inf"),
        ("run_name=x\\y", "must be a plain name"),
    ],
)
def test_grpo_rejects(override, message):
    with pytest.raises(UserError) as err:
        load_grpo_config("tiny", [override])
    assert message in str(err.value)


def test_unknown_top_level_section(tmp_path):
    raw = yaml.safe_load((PRESETS_DIR / "tiny.yaml").read_text())
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump({**raw, "stf": {"lr": 1e-4}}))
    for load in (load_train_config, load_grpo_config):
        with pytest.raises(UserError, match=r"unknown top-level section 'stf' \(did you mean sft\?\)"):
            load(str(path))


def test_valid_presets_still_load():
    for name in ("tiny", "2b", "4b", "8b"):
        assert load_train_config(name).sft.lr > 0
        assert load_grpo_config(name).grpo.lr > 0
