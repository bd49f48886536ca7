"""Model presets: one YAML per preset (models/presets/NAME.yaml) loaded into a frozen dataclass.

    from models import load_preset
    preset = load_preset("tiny")        # unknown names raise ValueError listing the valid ones

A preset is `init: random` (the `tiny` preset: Qwen3-VL and SAM 2 architectures given inline as
transformers config kwargs, tokenizer built offline), `init: pretrained` (Qwen3-VL and SAM 2.1
from pinned Hugging Face revisions) or `init: released` (a released Sa2VA / R-Sa2VA checkpoint at
a pinned revision, read by models.convert: the `4b` preset starts from Sa2VA-Qwen3-VL-4B as the
authors' SFT does).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

PRESET_DIR = Path(__file__).parent / "presets"
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class HFSource:
    """A Hugging Face repository (or a local directory) at a pinned revision."""

    repo: str
    revision: str | None = None

    def __post_init__(self) -> None:
        if not self.repo:
            raise ValueError(
                "HF source needs `repo` (a hub id like Qwen/Qwen3-VL-4B-Instruct or a local dir)"
            )
        if self.revision is not None and not _SHA.match(self.revision):
            raise ValueError(
                f"revision of {self.repo} must be a 40-hex commit sha (pin it), got {self.revision!r}"
            )


@dataclass(frozen=True)
class LoraPolicy:
    """LoRA on the language model's linear layers (peft); no target_modules: every nn.Linear of it."""

    r: int = 128
    alpha: int = 256
    dropout: float = 0.05
    target_modules: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.r <= 0 or self.alpha <= 0:
            raise ValueError(f"lora.r and lora.alpha must be positive, got r={self.r} alpha={self.alpha}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"lora.dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class TrainPolicy:
    """Which towers train. Mask decoder and the [SEG] projection train unless switched off."""

    freeze_llm: bool = True
    freeze_vision: bool = True
    freeze_sam_encoder: bool = True
    train_mask_decoder: bool = True
    train_projection: bool = True
    train_embeddings: bool = True  # embed_tokens + lm_head, so the new [SEG] row can learn
    lora: LoraPolicy | None = None


@dataclass(frozen=True)
class LossWeights:
    """Next-token CE + mask BCE + mask Dice, as the authors train (docs/fidelity.md); a target that is a
    box, not a mask (VGR), gets the box projection loss (weight `box`) instead of BCE + Dice.

    mask_loss `points`: BCE and Dice on `num_points` uncertainty-sampled points per mask;
    `dense`: on every pixel of the mask_loss_size² masks (an option for small random-init models).
    mask_slots: masks per sample the mask losses see (more: a random subset; fewer: repeated);
    0 = every `[SEG]` once."""

    ce: float = 1.0
    bce: float = 2.0
    dice: float = 0.5
    mask_loss: str = "points"
    num_points: int = 12544
    oversample_ratio: float = 3.0
    importance_ratio: float = 0.75
    mask_slots: int = 5
    box: float = 1.0  # box projection loss on box-only targets (VGR; models/losses.box_projection_loss)

    def __post_init__(self) -> None:
        if min(self.ce, self.bce, self.dice, self.box) < 0:
            raise ValueError(f"loss weights must be >= 0, got {self}")
        if self.mask_loss not in ("points", "dense"):
            raise ValueError(f"loss.mask_loss must be 'points' or 'dense', got {self.mask_loss!r}")
        if self.num_points < 1 or self.oversample_ratio < 1 or not 0 <= self.importance_ratio <= 1:
            raise ValueError(
                "loss.num_points must be >= 1, loss.oversample_ratio >= 1 and loss.importance_ratio in [0, 1]"
            )
        if self.mask_slots < 0:
            raise ValueError(f"loss.mask_slots must be >= 0 (0 = every [SEG]), got {self.mask_slots}")


SEG_NORMS = ("none", "batch")


@dataclass(frozen=True)
class ModelPreset:
    """Everything needed to build, train and run one R-Sa2VA model size."""

    name: str
    init: str  # "random" | "pretrained" | "released"
    vlm: HFSource | None = None
    sam: HFSource | None = None
    released: HFSource | None = None  # init "released": a Sa2VA / R-Sa2VA checkpoint (HF layout)
    vlm_config: dict[str, Any] = field(default_factory=dict)
    sam_config: dict[str, Any] = field(default_factory=dict)
    tokenizer_bpe_ranks: int | None = None
    min_pixels: int = 512 * 28 * 28
    max_pixels: int = 2048 * 28 * 28
    sam_image_size: int = 1024
    max_image_side: int = 4096
    mask_loss_size: int = 256
    max_new_tokens: int = 2048  # greedy generation budget (the authors' HF predict_forward)
    dtype: str = "float32"
    seg_norm: str = "none"  # "batch": standardise the [SEG] states before the projection (SegStateNorm)
    policy: TrainPolicy = TrainPolicy()
    loss: LossWeights = LossWeights()

    def __post_init__(self) -> None:
        if self.init not in ("random", "pretrained", "released"):
            raise ValueError(
                f"preset {self.name}: init must be 'random', 'pretrained' or 'released', got {self.init!r}"
            )
        if self.init == "pretrained" and (self.vlm is None or self.sam is None):
            raise ValueError(f"preset {self.name}: init 'pretrained' needs both `vlm` and `sam` sources")
        if self.init == "released" and (self.released is None or not self.sam_config):
            raise ValueError(
                f"preset {self.name}: init 'released' needs `released` (the checkpoint) and `sam_config` "
                "(its SAM 2 architecture)"
            )
        if self.init == "random" and not (self.vlm_config and self.sam_config and self.tokenizer_bpe_ranks):
            raise ValueError(
                f"preset {self.name}: init 'random' needs `vlm_config`, `sam_config` and `tokenizer_bpe_ranks`"
            )
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ValueError(f"preset {self.name}: need 0 < min_pixels <= max_pixels")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(
                f"preset {self.name}: dtype must be float32, bfloat16 or float16, got {self.dtype!r}"
            )
        if self.seg_norm not in SEG_NORMS:
            raise ValueError(f"preset {self.name}: seg_norm must be one of {list(SEG_NORMS)}, got {self.seg_norm!r}")
        if self.init == "released" and self.seg_norm != "none":
            raise ValueError(
                f"preset {self.name}: a released checkpoint has no [SEG] state statistics; set seg_norm: none"
            )
        for key in ("sam_image_size", "max_image_side", "mask_loss_size", "max_new_tokens"):
            if getattr(self, key) <= 0:
                raise ValueError(f"preset {self.name}: {key} must be positive")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (YAML/JSON-ready) that `preset_from_dict` turns back into this preset."""
        data = asdict(self)
        if data["policy"]["lora"] is not None:
            data["policy"]["lora"]["target_modules"] = list(data["policy"]["lora"]["target_modules"])
        return data


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(data).__name__}")  # noqa: TRY004 (bad input is a ValueError here)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; valid keys: {sorted(known)}")
    return cls(**data)


def preset_from_dict(data: dict[str, Any]) -> ModelPreset:
    """Validate a preset mapping (from YAML or a saved config.json) into a ModelPreset."""
    data = dict(data)
    name = data.get("name", "?")
    for key, cls in (("vlm", HFSource), ("sam", HFSource), ("released", HFSource)):
        if data.get(key) is not None:
            data[key] = _build(cls, data[key], f"preset {name}: {key}")
    if data.get("loss") is not None:
        data["loss"] = _build(LossWeights, data["loss"], f"preset {name}: loss")
    if data.get("policy") is not None:
        policy = dict(data["policy"])
        if policy.get("lora") is not None:
            lora = dict(policy["lora"])
            if "target_modules" in lora:
                lora["target_modules"] = tuple(lora["target_modules"])
            policy["lora"] = _build(LoraPolicy, lora, f"preset {name}: policy.lora")
        data["policy"] = _build(TrainPolicy, policy, f"preset {name}: policy")
    return _build(ModelPreset, data, f"preset {name}")


def with_text_init(preset: ModelPreset, std: float) -> ModelPreset:
    """`preset` with its random-init language model drawn at `std` (`vlm_config.text_config.initializer_range`;
    transformers' default and the scale of released weights is 0.02, the tiny preset's 0.2)."""
    data = preset.to_dict()
    vlm_config = dict(data.get("vlm_config") or {})
    vlm_config["text_config"] = dict(vlm_config.get("text_config") or {}, initializer_range=std)
    return preset_from_dict(dict(data, vlm_config=vlm_config))


def preset_names() -> list[str]:
    """Names of the presets shipped in models/presets/."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def load_preset(name: str) -> ModelPreset:
    """Load models/presets/NAME.yaml (or a path to a YAML file) into a validated ModelPreset."""
    path = Path(name)
    if path.suffix not in (".yaml", ".yml"):
        path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown model preset {name!r}; valid presets: {', '.join(preset_names())}")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"preset file {path} must hold a mapping")  # noqa: TRY004 (bad input is a ValueError here)
    data.setdefault("name", path.stem)
    return preset_from_dict(data)
