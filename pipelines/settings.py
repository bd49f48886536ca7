"""Pipeline-level settings of a preset: the `data` and `work_uri` keys of pipelines/presets/<preset>.yaml.

Other sections of the same file (model, sft, grpo, gpu, ...) belong to the steps and are
validated by their own loaders.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vrt.errors import UserError

PRESETS_DIR = Path(__file__).parent / "presets"


@dataclass(frozen=True)
class DataSettings:
    generated: bool = True  # generate a dataset (vrt data synth) instead of reading the sources below
    n_train: int = 64
    n_bench: int = 16
    seed: int = 0
    image_size: int = 128
    train_source: str = "vrt-80k"
    train_from: str = "hf://datasets/HarborYuan/VisualReasoningTracer"
    bench_from: str = "hf://datasets/HarborYuan/VRT-Eval"
    revision: str = "synthetic"

    def __post_init__(self) -> None:
        if self.n_train < 1 or self.n_bench < 1:
            raise UserError(f"data.n_train and data.n_bench must be >= 1, got {self.n_train}, {self.n_bench}")
        if not self.generated and not re.fullmatch(r"[0-9a-f]{40}", self.revision):
            raise UserError(
                f"data.revision {self.revision!r} is not a commit sha: pin the dataset revision with "
                "--param data.revision=<40-hex sha> (see the dataset's commit history on the hub)"
            )


@dataclass(frozen=True)
class PipelineSettings:
    preset: str
    work_uri: str = ".vrt/work"
    data: DataSettings = field(default_factory=DataSettings)


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def preset_path(preset: str) -> Path:
    path = PRESETS_DIR / f"{preset}.yaml"
    if not path.is_file():
        raise UserError(f"unknown preset {preset!r}: choose one of {', '.join(preset_names())}")
    return path


def _build(cls, values: dict, where: str):
    names = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else f" (valid: {', '.join(names)})"
            raise UserError(f"unknown key {where}.{key}{hint}")
    return cls(**values)


def load_settings(preset: str, overrides: dict | None = None) -> PipelineSettings:
    """Settings of `preset`, with `overrides` such as {"data.n_train": 8, "work_uri": "s3://b/p"}."""
    raw = yaml.safe_load(preset_path(preset).read_text()) or {}
    data = dict(raw.get("data") or {})
    top = {"work_uri": raw["work_uri"]} if "work_uri" in raw else {}
    for key, value in (overrides or {}).items():
        if key.startswith("data."):
            data[key[len("data.") :]] = value
        elif key == "work_uri":
            top["work_uri"] = value
        else:
            raise UserError(f"unknown pipeline parameter {key!r}: use work_uri or data.<key>")
    return PipelineSettings(preset=preset, data=_build(DataSettings, data, "data"), **top)
