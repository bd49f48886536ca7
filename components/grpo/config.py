"""GRPO configuration: a frozen dataclass validated at load (the `grpo:` section of a preset YAML).

    cfg = grpo_config_from_dict({"group_size": 4, "rewards": {"vrt_format": 1.0}})
    cfg = apply_overrides(cfg, ["lr=1e-6", "engine=vllm"])

Defaults follow the paper (TASKS.md §1.5): group size 4, temperature 1.2, top-p 0.9, 1024 new
tokens, lr 1e-5, 1 epoch, no KL, SAM 2 decoder frozen, rewards format + answer IoU.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

import yaml

ENGINES = ("hf", "vllm")


def _default_rewards() -> dict[str, float]:
    return {"vrt_format": 1.0, "vrt_answer_iou": 1.0}


@dataclass(frozen=True)
class GRPOConfig:
    """Every knob of a GRPO run; `__post_init__` rejects bad values with the fix."""

    group_size: int = 4
    prompts_per_step: int = 2
    epochs: int = 1
    max_steps: int | None = None
    lr: float = 1e-5
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    clip_eps: float | None = 0.2
    kl_coef: float = 0.0
    updates_per_batch: int = 1
    temperature: float = 1.2
    top_p: float = 0.9
    max_new_tokens: int = 1024
    engine: str = "hf"
    vllm_gpu_memory_utilization: float = 0.4
    rewards: dict[str, float] = field(default_factory=_default_rewards)
    freeze_mask_decoder: bool = True
    select_high_variance: int | None = None
    selection_samples: int = 4
    checkpoint_every: int = 1
    num_workers: int = 1
    use_gpu: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        from components.grpo.rewards import REWARDS

        if self.group_size < 2:
            raise ValueError(f"grpo.group_size must be >= 2 (advantages compare rollouts of one prompt), got {self.group_size}")
        for key in ("prompts_per_step", "epochs", "updates_per_batch", "max_new_tokens", "checkpoint_every", "num_workers"):
            if getattr(self, key) < 1:
                raise ValueError(f"grpo.{key} must be >= 1, got {getattr(self, key)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"grpo.max_steps must be >= 1 or null (one pass over the data), got {self.max_steps}")
        if self.lr <= 0 or self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ValueError("grpo.lr and grpo.temperature must be > 0 and grpo.top_p in (0, 1]")
        if self.clip_eps is not None and not 0 < self.clip_eps < 1:
            raise ValueError(f"grpo.clip_eps must be in (0, 1) or null (no clipping), got {self.clip_eps}")
        if self.kl_coef < 0:
            raise ValueError(f"grpo.kl_coef must be >= 0 (0 = no reference model), got {self.kl_coef}")
        if self.engine not in ENGINES:
            raise ValueError(f"grpo.engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if not self.rewards:
            raise ValueError("grpo.rewards is empty: name at least one, e.g. {vrt_format: 1.0, vrt_answer_iou: 1.0}")
        unknown = sorted(set(self.rewards) - set(REWARDS))
        if unknown:
            raise ValueError(f"grpo.rewards names unknown rewards {unknown}: valid rewards are {', '.join(sorted(REWARDS))}")
        if self.select_high_variance is not None and self.select_high_variance < 1:
            raise ValueError("grpo.select_high_variance must be >= 1 (prompts to keep) or null (keep all)")
        if self.selection_samples < 2:
            raise ValueError("grpo.selection_samples must be >= 2 (a variance needs two rollouts)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(name: str, kind: str, value: Any) -> Any:
    """`value` as the field's type (`1e-5` arrives from YAML as a string); ValueError says what is expected."""
    if value is None and kind.endswith("| None"):
        return None
    base = kind.split(" |")[0]
    try:
        if base == "float" and not isinstance(value, bool):
            return float(value)
        if base == "int" and not isinstance(value, bool) and float(value) == int(float(value)):
            return int(float(value))
        if base == "bool" and isinstance(value, bool):
            return value
        if base == "str" and isinstance(value, str):
            return value
    except (TypeError, ValueError):
        pass
    if base.startswith("dict"):
        if isinstance(value, dict):
            return {str(k): _coerce(f"{name}.{k}", "float", v) for k, v in value.items()}
        raise ValueError(f"grpo.{name} must be a mapping of reward name to weight, e.g. {{vrt_format: 1.0}}")
    raise ValueError(f"grpo.{name} must be {kind}, got {value!r}")


def grpo_config_from_dict(data: dict[str, Any] | None) -> GRPOConfig:
    """A GRPOConfig from a plain dict; unknown keys are an error listing the valid ones."""
    data = dict(data or {})
    kinds = {f.name: str(f.type) for f in fields(GRPOConfig)}
    unknown = sorted(set(data) - set(kinds))
    if unknown:
        raise ValueError(f"unknown grpo keys {unknown}: valid keys are {', '.join(sorted(kinds))}")
    return GRPOConfig(**{k: _coerce(k, kinds[k], v) for k, v in data.items()})


def apply_overrides(cfg: GRPOConfig, overrides: list[str]) -> GRPOConfig:
    """`key=value` overrides (value parsed as YAML, `rewards.NAME=w` sets one weight)."""
    data = cfg.to_dict()
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like key=value, e.g. lr=1e-6")
        value = yaml.safe_load(raw)
        if key.startswith("rewards."):
            data["rewards"] = {**data["rewards"], key.split(".", 1)[1]: value}
        else:
            data[key] = value
    return grpo_config_from_dict(data)
