"""GRPO configuration: the `grpo:` section of pipelines/presets/<preset>.yaml as a frozen dataclass.

    job = load_grpo_config("tiny", ["init_from=.vrt/sft/run/model", "grpo.lr=1e-6"])
    job.grpo.group_size, job.model, job.gpu.count

Defaults follow the paper (TASKS.md §1.5): group size 4, temperature 1.2, top-p 0.9, 1024 new
tokens, lr 1e-5, 1 epoch, no KL, SAM 2 decoder frozen, rewards format + answer IoU, loss averaged
per sequence then over sequences. The `4b` preset adds the authors' weight decay 0.05 and their
auxiliary mask loss (`mask_loss`, docs/fidelity.md). Overrides
are `grpo.key=value` (YAML values); a bare `key=value` means `grpo.key`; `grpo.rewards.NAME=w`
sets one reward weight. The preset loader and override syntax are the SFT step's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any

from components.sft.config import GPUConfig, apply_overrides, build_section, preset_file
from components.sft.config_checks import read_yaml, sections_problem, training_problem
from components.sft.mixture import Mixture, parse_mixture
from vrt.errors import UserError

ENGINES = ("hf", "vllm")
STRATEGIES = ("deepspeed", "ddp")


def _default_rewards() -> dict[str, float]:
    return {"vrt_format": 1.0, "vrt_answer_iou": 1.0}


@dataclass(frozen=True)
class GRPOConfig:
    """Every knob of a GRPO run; `__post_init__` rejects bad values with the fix (ValueError)."""

    dataset: str = ""  # canonical dataset URI of the prompts
    datasets: Mixture | None = None  # weighted mixture instead of `dataset` (components/sft/mixture.py)
    init_from: str = ""  # model directory URI or model manifest JSON (the SFT output)
    output: str = ".vrt/grpo"  # checkpoints and the final model go under <output>/<run_name>/
    run_name: str = ""  # "" = grpo-<preset>-<timestamp>
    resume_from: str = ""  # a GRPO checkpoint URI, or "latest" under `output`
    group_size: int = 4
    prompts_per_step: int = 2  # prompts per worker per step (each gets group_size rollouts)
    epochs: int = 1
    max_steps: int = 0  # 0 = one pass over the prompts x epochs
    lr: float = 1e-5
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    clip_eps: float | None = 0.2  # null: no clipping (the paper's loss)
    kl_coef: float = 0.0
    loss_reduction: str = "sequence"  # sequence: per-sequence token mean, then over sequences | token
    mask_loss: bool = False  # BCE + Dice on each group's best rollout's answer masks; trains the projection
    track_kl: bool = False  # load the frozen reference to log KL even when kl_coef = 0
    updates_per_batch: int = 1
    temperature: float = 1.2
    top_p: float = 0.9
    max_new_tokens: int = 1024
    engine: str = "hf"  # hf | vllm
    vllm_gpu_memory_utilization: float = 0.4
    rewards: dict[str, float] = field(default_factory=_default_rewards)
    freeze_mask_decoder: bool = True
    select_high_variance: int = 0  # keep this many highest-variance prompts first (0 = keep all)
    selection_samples: int = 4
    strategy: str = "deepspeed"
    zero_stage: int = 2
    num_workers: int = 1
    cpus_per_worker: int = 1
    use_gpu: bool = False
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    max_failures: int = 0
    seed: int = 0
    k8s_namespace: str = ""
    k8s_secrets: tuple[str, ...] = ("vrt-s3-credentials", "vrt-mlflow-client")
    k8s_timeout_s: int = 172800

    def __post_init__(self) -> None:
        from components.grpo.objective import REDUCTIONS
        from components.grpo.rewards import REWARDS

        problem = training_problem("grpo", self)
        if problem:
            raise ValueError(problem)
        if self.datasets is not None:
            object.__setattr__(self, "datasets", parse_mixture(self.datasets, "grpo.datasets"))
            if self.dataset:
                raise ValueError("grpo.dataset and grpo.datasets are both set: set one (grpo.dataset= empties it)")
            if len(self.datasets) > 1 and self.select_high_variance:
                raise ValueError("grpo.select_high_variance picks prompts of one dataset: set it to 0 for a mixture")
        if self.group_size < 2:
            raise ValueError(
                f"grpo.group_size must be >= 2 (advantages compare rollouts of one prompt), "
                f"got {self.group_size}"
            )
        for key in (
            "prompts_per_step",
            "epochs",
            "updates_per_batch",
            "max_new_tokens",
            "checkpoint_every",
            "num_workers",
            "cpus_per_worker",
            "keep_checkpoints",
            "k8s_timeout_s",
        ):
            if getattr(self, key) < 1:
                raise ValueError(f"grpo.{key} must be >= 1, got {getattr(self, key)}")
        for key in ("max_steps", "select_high_variance", "max_failures", "kl_coef", "weight_decay"):
            if getattr(self, key) < 0:
                raise ValueError(f"grpo.{key} must be >= 0, got {getattr(self, key)}")
        if self.lr <= 0 or self.temperature <= 0 or not 0 < self.top_p <= 1:
            raise ValueError("grpo.lr and grpo.temperature must be > 0 and grpo.top_p in (0, 1]")
        if self.clip_eps is not None and not 0 < self.clip_eps < 1:
            raise ValueError(f"grpo.clip_eps must be in (0, 1) or null (no clipping), got {self.clip_eps}")
        if self.loss_reduction not in REDUCTIONS:
            raise ValueError(
                f"grpo.loss_reduction must be sequence (each rollout's token mean, then their mean: the "
                f"authors') or token (mean over all response tokens), got {self.loss_reduction!r}"
            )
        if self.engine not in ENGINES:
            raise ValueError(f"grpo.engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if self.engine == "vllm" and not self.use_gpu:
            raise ValueError(
                "grpo.engine=vllm needs a GPU: set grpo.use_gpu=true (and gpu.count), or grpo.engine=hf"
            )
        if self.strategy not in STRATEGIES or self.zero_stage not in (0, 1, 2):
            raise ValueError(
                "grpo.strategy must be deepspeed or ddp and grpo.zero_stage 0, 1 or 2 "
                "(rollouts read full weights, so ZeRO-3 is not supported)"
            )
        if not self.rewards:
            raise ValueError(
                "grpo.rewards is empty: name at least one, e.g. {vrt_format: 1.0, vrt_answer_iou: 1.0}"
            )
        unknown = sorted(set(self.rewards) - set(REWARDS))
        if unknown:
            raise ValueError(
                f"grpo.rewards names unknown rewards {unknown}: "
                f"valid rewards are {', '.join(sorted(REWARDS))}"
            )
        if self.selection_samples < 2:
            raise ValueError("grpo.selection_samples must be >= 2 (a variance needs two rollouts)")

    @property
    def mixture(self) -> Mixture:
        """The prompt sources with their weights: `datasets`, or `dataset` at weight 1 (() when neither)."""
        return self.datasets or (((self.dataset, 1.0),) if self.dataset else ())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(name: str, kind: str, value: Any) -> Any:
    """`value` as the field's type (YAML reads `1e-5` as a string); ValueError says what is expected."""
    if value is None and kind.endswith("| None"):
        return None
    base = kind.split(" |")[0]
    if base == "Mixture":  # parsed and checked by GRPOConfig
        return value
    try:
        if base == "float" and not isinstance(value, bool):
            return float(value)
        if base == "int" and not isinstance(value, bool) and float(value) == int(float(value)):
            return int(float(value))
    except (TypeError, ValueError):
        pass
    if (base == "bool" and isinstance(value, bool)) or (base == "str" and isinstance(value, str)):
        return value
    if base.startswith("tuple") and isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    if base.startswith("dict"):
        if isinstance(value, dict):
            return {str(k): _coerce(f"{name}.{k}", "float", v) for k, v in value.items()}
        raise ValueError(f"grpo.{name} must be a mapping of reward name to weight, e.g. {{vrt_format: 1.0}}")
    raise ValueError(f"grpo.{name} must be {kind}, got {value!r}")


def grpo_config_from_dict(data: dict[str, Any] | None) -> GRPOConfig:
    """A GRPOConfig from the `grpo:` mapping; unknown keys are an error listing the valid ones."""
    if data is not None and not isinstance(data, dict):
        raise ValueError(f"section 'grpo' must be a mapping of keys to values, got {type(data).__name__}")
    data = dict(data or {})
    kinds = {f.name: str(f.type) for f in fields(GRPOConfig)}
    unknown = sorted(set(data) - set(kinds))
    if unknown:
        raise ValueError(f"unknown grpo keys {unknown}: valid keys are {', '.join(sorted(kinds))}")
    return GRPOConfig(**{k: _coerce(k, kinds[k], v) for k, v in data.items()})


@dataclass(frozen=True)
class GRPOJob:
    """A preset file as the GRPO step sees it."""

    model: str
    grpo: GRPOConfig
    gpu: GPUConfig
    source: str
    raw: dict[str, Any]

    def to_params(self) -> dict[str, Any]:
        """Flat `section.key` -> value mapping (MLflow params)."""
        flat = {"model": self.model, "config": self.source}
        flat |= {f"grpo.{k}": v for k, v in self.grpo.to_dict().items()}
        return flat | {f"gpu.{k}": v for k, v in dataclasses.asdict(self.gpu).items()}


def job_from_raw(raw: dict[str, Any], source: str) -> GRPOJob:
    """Validate a preset mapping (overrides applied); bad values are UserErrors."""
    problem = sections_problem(raw, source)
    if problem:
        raise UserError(problem)
    model = raw.get("model")
    if not isinstance(model, str) or not model:
        raise UserError(f"{source}: set `model:` to a model preset name (e.g. model: tiny)")
    try:
        grpo = grpo_config_from_dict(raw.get("grpo"))
    except ValueError as e:
        raise UserError(str(e)) from e
    gpu = build_section(GPUConfig, raw.get("gpu"), "gpu")
    if grpo.use_gpu and gpu.count < 1:
        raise UserError("grpo.use_gpu is true but gpu.count is 0: set gpu.count=1 (GPUs per worker)")
    return GRPOJob(model=model, grpo=grpo, gpu=gpu, source=source, raw=raw)


def load_grpo_config(config: str, overrides: list[str] | None = None) -> GRPOJob:
    """Read a preset (name or YAML path), apply overrides (bare keys go to `grpo.`) and validate."""
    path = preset_file(config)
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise UserError(f"{path} must hold a mapping of sections (model, grpo, gpu, ...)")
    fixed = [item if "." in item.partition("=")[0] else f"grpo.{item}" for item in overrides or []]
    return job_from_raw(apply_overrides(raw, fixed), str(path))
