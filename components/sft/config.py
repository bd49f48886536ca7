"""SFT configuration: the `model`, `sft` and `gpu` sections of pipelines/presets/<preset>.yaml.

    from components.sft.config import load_train_config
    cfg = load_train_config("pipelines/presets/tiny.yaml", ["sft.lr=1e-4", "sft.num_workers=2"])

A preset file holds sections owned by several steps (data, sft, grpo, ...): this loader
validates `model`, `sft` and `gpu` (unknown keys there are errors listing the close matches)
and leaves the other sections alone. Overrides are `section.key=value` with YAML values.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.sft.config_checks import read_yaml, sections_problem, training_problem, yaml_value
from components.sft.mixture import Mixture, parse_mixture
from vrt.errors import UserError

PRESETS_DIR = Path(__file__).resolve().parents[2] / "pipelines" / "presets"
LAUNCHERS = ("ray", "none")  # runtime local: Ray Train workers, or the recipe in this process (torchrun for more)
RESUME_LATEST = "latest"


@dataclass(frozen=True)
class SFTConfig:
    """Hyper-parameters and plumbing of one SFT run (defaults: the paper's, TASKS.md §1.4)."""

    dataset: str = ""  # canonical dataset URI (local dir or s3://); the pipeline passes its Dataset here
    datasets: Mixture | None = None  # weighted mixture instead of `dataset` (components/sft/mixture.py)
    eval_dataset: str = ""  # held-out canonical dataset for teacher-forced evaluation ("" = none)
    eval_samples: int = 64
    output: str = ".vrt/sft"  # checkpoints and the final model go under this URI
    run_name: str = ""  # "" = sft-<timestamp>
    strategy: str = "deepspeed"  # deepspeed | ddp (torch DistributedDataParallel)
    zero_stage: int = 2
    num_workers: int = 2
    use_gpu: bool = False
    cpus_per_worker: int = 1
    micro_batch_size: int = 1
    global_batch_size: int = 64
    epochs: int = 1
    max_steps: int = 0  # 0 = epochs x steps per epoch
    lr: float = 4e-5
    vlm_lr_scale: float = 1.0  # Qwen3-VL's parameters (LM + its vision tower) train at lr x this; SAM 2 and the projection at lr
    weight_decay: float = 0.05
    adam_betas: tuple[float, float] = (0.9, 0.999)
    warmup_ratio: float = 0.05
    grad_clip: float = 1.0
    checkpoint_every: int = 100  # steps; a final checkpoint is always written
    keep_checkpoints: int = 2
    resume_from: str = ""  # checkpoint URI, or "latest" (newest checkpoint under `output`)
    max_failures: int = 0  # worker-group restarts Ray Train allows (FailureConfig)
    loader_workers: int = 1  # processes that decode and collate batches (0 = in the training thread)
    seed: int = 0
    fault_at_step: int = 0  # chaos test: the last worker dies once at this step (0 = never)
    k8s_namespace: str = ""  # runtime kubernetes: namespace of the RayJob
    k8s_secrets: tuple[str, ...] = ("vrt-s3-credentials", "vrt-mlflow-client")  # Secrets passed to the pods as env (by reference)
    k8s_timeout_s: int = 172800  # RayJob activeDeadlineSeconds and the watch timeout

    def __post_init__(self) -> None:
        problem = training_problem("sft", self)
        if problem:
            raise UserError(problem)
        checks = [
            (self.strategy in ("deepspeed", "ddp"), f"sft.strategy must be deepspeed or ddp, got {self.strategy!r}"),
            (self.zero_stage in (0, 1, 2, 3), f"sft.zero_stage must be 0, 1, 2 or 3, got {self.zero_stage}"),
            (self.num_workers >= 1, "sft.num_workers must be >= 1"),
            (self.micro_batch_size >= 1, "sft.micro_batch_size must be >= 1"),
            (self.epochs >= 1 and self.max_steps >= 0, "sft.epochs must be >= 1 and sft.max_steps >= 0"),
            (self.lr > 0, f"sft.lr must be > 0, got {self.lr}"),
            (self.vlm_lr_scale > 0, f"sft.vlm_lr_scale must be > 0 (1.0 = one learning rate), got {self.vlm_lr_scale}"),
            (0 <= self.warmup_ratio < 1, f"sft.warmup_ratio must be in [0, 1), got {self.warmup_ratio}"),
            (self.checkpoint_every >= 1, "sft.checkpoint_every must be >= 1"),
            (self.keep_checkpoints >= 1, "sft.keep_checkpoints must be >= 1"),
            (self.max_failures >= 0 and self.loader_workers >= 0, "sft.max_failures and loader_workers must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise UserError(message)
        self._check_datasets()
        per_step = self.micro_batch_size * self.num_workers
        if self.global_batch_size % per_step:
            lower = max(per_step, self.global_batch_size // per_step * per_step)
            raise UserError(
                f"sft.global_batch_size={self.global_batch_size} is not divisible by micro_batch_size x num_workers "
                f"= {per_step}: set sft.global_batch_size={lower} (or {lower + per_step}), or change num_workers"
            )

    def _check_datasets(self) -> None:
        """`datasets` parsed into (uri, weight) pairs; it and `dataset` exclude each other."""
        if self.datasets is None:
            return
        object.__setattr__(self, "datasets", parse_mixture(self.datasets, "sft.datasets"))
        if self.dataset:
            raise UserError("sft.dataset and sft.datasets are both set: set one (sft.dataset= empties the single one)")

    @property
    def mixture(self) -> Mixture:
        """The training sources with their weights: `datasets`, or `dataset` at weight 1 (() when neither)."""
        return self.datasets or (((self.dataset, 1.0),) if self.dataset else ())

    @property
    def grad_accum(self) -> int:
        """Micro-batches per worker per optimizer step."""
        return self.global_batch_size // (self.micro_batch_size * self.num_workers)


@dataclass(frozen=True)
class GPUConfig:
    """Where GPU workers run: resource per worker, node selector and tolerations of the GPU pool."""

    resource: str = "nvidia.com/gpu"
    count: int = 0  # GPUs per training worker (0 = CPU workers)
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, str]] = field(default_factory=list)
    cpus: int = 4  # CPUs per worker pod
    memory: str = "32Gi"  # memory per worker pod

    def __post_init__(self) -> None:
        if self.count < 0:
            raise UserError(f"gpu.count must be >= 0, got {self.count}")
        allowed = {"key", "operator", "value", "effect", "tolerationSeconds"}
        for tol in self.tolerations:
            if not isinstance(tol, dict) or not set(tol) <= allowed:
                raise UserError(f"gpu.tolerations entries are mappings with keys {sorted(allowed)}, got {tol!r}")


@dataclass(frozen=True)
class TrainConfig:
    """A preset file as the SFT step sees it."""

    model: str
    sft: SFTConfig
    gpu: GPUConfig
    source: str  # the preset file
    raw: dict[str, Any]  # the whole file after overrides (other steps' sections included)

    def to_params(self) -> dict[str, Any]:
        """Flat `section.key` -> value mapping (MLflow params)."""
        flat = {"model": self.model, "config": self.source}
        for section in ("sft", "gpu"):
            flat |= {f"{section}.{k}": v for k, v in dataclasses.asdict(getattr(self, section)).items()}
        return flat


def _coerce(key: str, type_name: str, value: Any) -> Any:
    """YAML reads 3e-4 as a string and lists as lists: convert to the field's declared type."""
    try:
        if type_name == "float" and isinstance(value, (str, int)) and not isinstance(value, bool):
            return float(value)
        if type_name == "int" and isinstance(value, str):
            return int(value)
    except ValueError as e:
        raise UserError(f"{key}={value!r} is not a {type_name}: set a number") from e
    if type_name.startswith("tuple") and isinstance(value, list):
        return tuple(value)
    if type_name in ("float", "int", "bool", "str") and not isinstance(value, {"float": (int, float), "int": int,
                                                                           "bool": bool, "str": str}[type_name]):
        raise UserError(f"{key}={value!r} must be a {type_name}")
    return value


def build_section(cls: type, values: Any, section: str) -> Any:
    """`cls(**values)` where an unknown key is a UserError naming its close matches."""
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise UserError(f"section {section!r} must be a mapping of keys to values, got {type(values).__name__}")
    names = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(f'{section}.{c}' for c in close)}?" if close else f"valid: {', '.join(names)}"
            raise UserError(f"unknown config key {section}.{key} ({hint})")
    types = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    fixed = {k: _coerce(f"{section}.{k}", types[k], v) for k, v in values.items()}
    try:
        return cls(**fixed)
    except TypeError as e:
        raise UserError(f"section {section!r}: {e}") from e


def preset_file(config: str) -> Path:
    """A path to a YAML file, or a preset name looked up in pipelines/presets/."""
    path = Path(config)
    if path.suffix not in (".yaml", ".yml"):
        path = PRESETS_DIR / f"{config}.yaml"
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
        raise UserError(f"config {config!r} not found: give a YAML path or one of the presets {names}")
    return path


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """A copy of `raw` with each `a.b=value` (value parsed as YAML) set."""
    out = yaml.safe_load(yaml.safe_dump(raw)) or {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"override {item!r} is not key=value: write e.g. sft.lr=1e-4")
        parts = key.strip().split(".")
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UserError(f"override {item!r}: {part} is not a section")
            node = child
        node[parts[-1]] = yaml_value(text, f"override {item!r}") if text.strip() else ""
    return out


def load_train_config(config: str, overrides: list[str] | None = None) -> TrainConfig:
    """Read a preset (name or YAML path), apply overrides and validate the SFT sections."""
    path = preset_file(config)
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise UserError(f"{path} must hold a mapping of sections (model, sft, gpu, ...)")
    return config_from_raw(apply_overrides(raw, list(overrides or [])), str(path))


def config_from_raw(raw: dict[str, Any], source: str) -> TrainConfig:
    """Validate an already-read preset mapping (overrides applied) into a TrainConfig."""
    path = source
    problem = sections_problem(raw, source)
    if problem:
        raise UserError(problem)
    model = raw.get("model")
    if not isinstance(model, str) or not model:
        raise UserError(f"{path}: set `model:` to a model preset name (e.g. model: tiny)")
    sft = build_section(SFTConfig, raw.get("sft"), "sft")
    gpu = build_section(GPUConfig, raw.get("gpu"), "gpu")
    if sft.use_gpu and gpu.count < 1:
        raise UserError("sft.use_gpu is true but gpu.count is 0: set gpu.count=1 (GPUs per worker)")
    check_model_policy(model, sft)
    return TrainConfig(model=model, sft=sft, gpu=gpu, source=source, raw=raw)


def check_model_policy(model: str, sft: SFTConfig) -> None:
    """Reject settings that contradict the model preset's training policy (what trains, LoRA)."""
    from models.config import load_preset

    try:
        policy = load_preset(model).policy
    except ValueError as e:
        raise UserError(f"model: {e}") from e
    trains = [
        not policy.freeze_llm,
        not policy.freeze_vision,
        not policy.freeze_sam_encoder,
        policy.train_mask_decoder,
        policy.train_projection,
        policy.lora is not None,
        policy.train_embeddings,
    ]
    if not any(trains):
        raise UserError(
            f"model preset {model!r} freezes every part: nothing to train; set policy.lora or "
            "policy.train_mask_decoder/train_projection in the model preset"
        )
    if sft.strategy == "deepspeed" and sft.zero_stage == 3 and policy.freeze_llm:
        raise UserError(
            f"sft.zero_stage=3 partitions all weights, but model preset {model!r} freezes the language model "
            "(only LoRA and the mask head train, which ZeRO-2 shards already): set sft.zero_stage=2"
        )


def gpu_settings(preset: str) -> dict[str, Any]:
    """GPU placement of the preset's training workers, for the pipeline to forward (kfp-kubernetes names).

    Keys: accelerator_type (resource name), accelerator_limit, cpu_limit, memory_limit, node_selector,
    tolerations.
    """
    gpu = load_train_config(preset).gpu
    return {
        "accelerator_type": gpu.resource,
        "accelerator_limit": gpu.count,
        "cpu_limit": str(gpu.cpus),
        "memory_limit": gpu.memory,
        "node_selector": dict(gpu.node_selector),
        "tolerations": [dict(t) for t in gpu.tolerations],
    }
