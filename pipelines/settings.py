"""Pipeline-level settings of a preset: `work_uri`, `runtime`, and the `data`, `evaluate`, `register`
and `deploy` sections of pipelines/presets/<preset>.yaml.

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

from components.register.gate import BENCH_OF, GateConfig
from components.sft.config import LAUNCHERS
from evaluation.reasonseg import ReasonSegOptions
from vrt.errors import UserError

PRESETS_DIR = Path(__file__).parent / "presets"
RUNTIMES = ("local", "kubernetes")
TOP_LEVEL = ("work_uri", "runtime", "launcher", "cache_training")
REVISION = re.compile(r"[0-9a-f]{40}")
GUARDS_HINT = "set register.guards to {benchmark: {metric: allowed drop}}, e.g. {reasonseg: {gIoU: 0.02}}"


MIX_SOURCES = ("vrt-80k", "vgr")  # sources the SFT step trains on (VRT-Bench / ReasonSeg are benchmarks)


@dataclass(frozen=True)
class MixIn:
    """A second SFT source mixed with the train source: `data.mix_in` {source, weight, from, revision}.
    Generated data: `from`/`revision` stay empty (the source's folder of the generated raw data)."""

    source: str
    weight: float = 1.0
    from_uri: str = ""  # `from` in YAML: a folder or s3:// prefix holding the raw source
    revision: str = ""  # the source's commit sha, recorded in its manifest ("" compiles; hf:// refuses to run)


def _mix_in(value: object, generated: bool, train_source: str) -> MixIn | None:
    """`data.mix_in` validated (None: train on the train source alone)."""
    if value is None or isinstance(value, MixIn):
        return value
    fields = {"source", "weight", "from", "revision"}
    if not isinstance(value, dict) or "source" not in value or not set(value) <= fields:
        raise UserError(f"data.mix_in={value!r}: write {{source: vgr, weight: 0.5}} (plus from/revision for real "
                        "sources), or null for the train source alone")
    mix = MixIn(value["source"], value.get("weight", 1.0), value.get("from") or "", value.get("revision") or "")
    weight_ok = isinstance(mix.weight, (int, float)) and not isinstance(mix.weight, bool) and 0 < mix.weight < 1e6
    problems = [
        (mix.source not in MIX_SOURCES or mix.source == train_source,
         f"data.mix_in.source {mix.source!r} must be one of {', '.join(MIX_SOURCES)} other than {train_source}"),
        (not weight_ok, f"data.mix_in.weight {mix.weight!r} must be a positive number (passes per epoch, e.g. 0.5)"),
        (generated and bool(mix.from_uri or mix.revision),
         "data.mix_in.from/revision are for real sources: generated data mixes its own folder; remove them"),
        (not generated and not mix.from_uri, "data.mix_in.from is empty: give the raw source's folder or s3:// prefix"),
        (bool(mix.revision) and not REVISION.fullmatch(mix.revision),
         f"data.mix_in.revision {mix.revision!r} is not a commit sha: pin it as 40 hex digits"),
    ]
    for bad, message in problems:
        if bad:
            raise UserError(message)
    return MixIn(mix.source, float(mix.weight), mix.from_uri, mix.revision)


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
    revision: str = ""  # sources only; "" compiles, and the dataset step refuses to run without one
    reasonseg_from: str = "hf://datasets/Ricky06662/ReasonSeg_test"  # the second benchmark (another repo)
    reasonseg_revision: str = ""  # its own commit (same rule as `revision`)
    train_weight: float = 1.0  # the train source's SFT weight (passes per epoch, components/sft/mixture.py)
    mix_in: MixIn | None = None  # a second SFT source (VGR) with its weight; GRPO keeps the train source

    def __post_init__(self) -> None:
        if self.n_train < 1 or self.n_bench < 1:
            raise UserError(f"data.n_train and data.n_bench must be >= 1, got {self.n_train}, {self.n_bench}")
        for name in ("revision", "reasonseg_revision"):
            value = getattr(self, name)
            if not self.generated and value and not REVISION.fullmatch(value):
                raise UserError(
                    f"data.{name} {value!r} is not a commit sha: pin the dataset revision with "
                    f"--param data.{name}=<40-hex sha> (see the dataset's commit history on the hub)"
                )
        if isinstance(self.train_weight, bool) or not isinstance(self.train_weight, (int, float)) \
                or not 0 < self.train_weight < 1e6:
            raise UserError(f"data.train_weight {self.train_weight!r} must be a positive number (passes per epoch)")
        object.__setattr__(self, "mix_in", _mix_in(self.mix_in, self.generated, self.train_source))

    @property
    def sft_weights(self) -> list[float]:
        """SFT weights of [train source, mix_in source] (the train source's alone without mix_in)."""
        return [float(self.train_weight), *([self.mix_in.weight] if self.mix_in else [])]


@dataclass(frozen=True)
class EvaluateSettings:
    max_new_tokens: int = 0  # 0: the model's own budget (its preset's; 2048 for the real presets)
    batch_size: int = 4
    limit: int = 0  # 0: the whole benchmark (each of them)
    reasonseg_empty: str = "one"  # ReasonSeg scoring rules (evaluation/reasonseg.py; `vrt eval score --empty/--ignore`)
    reasonseg_ignore: str = "foreground"

    def __post_init__(self) -> None:
        if self.max_new_tokens < 0 or self.batch_size < 1 or self.limit < 0:
            raise UserError("evaluate.batch_size must be >= 1, evaluate.max_new_tokens and evaluate.limit >= 0")
        try:
            ReasonSegOptions(self.reasonseg_empty, self.reasonseg_ignore)
        except ValueError as e:
            raise UserError(f"evaluate.reasonseg_{str(e).split()[0]}: {e}") from None


def _default_guards() -> dict:
    return {"vrt_bench": {"R-LQ": 0.02}, "reasonseg": {"gIoU": 0.02, "cIoU": 0.02}}


@dataclass(frozen=True)
class RegisterSettings:
    """The promotion gate (components/register/gate.py): `primary` (benchmark/metric) must gain `margin`
    over the champion's; no guard of either benchmark may drop by more than its allowed drop."""

    model_name: str = ""  # default: vrt-<preset>
    primary: str = "vrt_bench/A-mIoU"
    margin: float = 0.01
    # {benchmark: {metric: allowed drop}} (a null drop: `tolerance`), or "bench/metric[=drop],..."
    guards: dict | str = field(default_factory=_default_guards)
    tolerance: float = 0.02

    def __post_init__(self) -> None:
        self.gate()

    def gate(self) -> GateConfig:
        """The gate's config; UserError saying what to set when a benchmark, metric or number is wrong."""
        try:
            if isinstance(self.guards, str):
                return GateConfig.from_values(self.primary, self.margin, self.guards, self.tolerance)
            names, own = _guard_table(self.guards)
            return GateConfig(self.primary, self.margin, names, self.tolerance, own)
        except ValueError as e:
            raise UserError(f"register: {str(e).removeprefix('gate: ')}") from None


def _guard_table(guards: object) -> tuple[tuple[str, ...], dict]:
    """Guard names and their own allowed drops from {benchmark: {metric: drop or null}}."""
    if not isinstance(guards, dict):
        raise UserError(f"register: guards is {guards!r}: {GUARDS_HINT}")
    names, own = [], {}
    for bench, metrics in guards.items():
        if bench not in BENCH_OF:
            raise UserError(f"register: guards.{bench}: unknown benchmark; use {' or '.join(BENCH_OF)}")
        if not isinstance(metrics, dict):
            raise UserError(f"register: guards.{bench} is {metrics!r}: {GUARDS_HINT}")
        for metric, drop in metrics.items():
            names.append(f"{bench}/{metric}")
            if drop is not None:
                own[f"{bench}/{metric}"] = drop
    return tuple(names), own


@dataclass(frozen=True)
class DeploySettings:
    name: str = "vrt"
    namespace: str = ""  # "": the namespace the pipeline's pods run in (where the chart is installed)
    canary_percent: int = -1  # -1: no canary (all traffic to the new revision)
    deployment_mode: str = "RawDeployment"
    timeout_s: int = 900


@dataclass(frozen=True)
class PipelineSettings:
    preset: str
    work_uri: str = ".vrt/work"
    runtime: str = "local"  # local: Ray on this machine, loopback server; kubernetes: RayJobs and KServe
    launcher: str = "ray"  # runtime local: sft/grpo on Ray Train workers (ray) or in the step's own process (none)
    cache_training: bool = False  # let KFP reuse cached sft/grpo results (never register/deploy)
    data: DataSettings = field(default_factory=DataSettings)
    evaluate: EvaluateSettings = field(default_factory=EvaluateSettings)
    register: RegisterSettings = field(default_factory=RegisterSettings)
    deploy: DeploySettings = field(default_factory=DeploySettings)

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise UserError(f"runtime {self.runtime!r} is unknown: use one of {', '.join(RUNTIMES)}")
        if self.launcher not in LAUNCHERS:
            raise UserError(f"launcher {self.launcher!r} is unknown: use one of {', '.join(LAUNCHERS)}")

    @property
    def step_launcher(self) -> str:
        """What the sft and grpo steps run on: `launcher` locally; a cluster always runs RayJobs."""
        return self.launcher if self.runtime == "local" else "ray"

    @property
    def model_name(self) -> str:
        return self.register.model_name or f"vrt-{self.preset}"


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


def _set_path(values: dict, path: list[str], value, key: str) -> None:
    """values[a][b]... = value for the path a.b... of an override (nested keys: register.guards.reasonseg.gIoU)."""
    for part in path[:-1]:
        inner = values.get(part) or {}
        if not isinstance(inner, dict):
            raise UserError(f"pipeline parameter {key!r}: {part} is not a mapping here; set {part} whole instead")
        values[part] = dict(inner)
        values = values[part]
    values[path[-1]] = value


def load_settings(preset: str, overrides: dict | None = None) -> PipelineSettings:
    """Settings of `preset`, with `overrides` such as {"data.n_train": 8, "work_uri": "s3://b/p"}."""
    sections = {"data": DataSettings, "evaluate": EvaluateSettings, "register": RegisterSettings, "deploy": DeploySettings}
    raw = yaml.safe_load(preset_path(preset).read_text()) or {}
    values = {name: dict(raw.get(name) or {}) for name in sections}
    top = {key: raw[key] for key in TOP_LEVEL if key in raw}
    for key, value in (overrides or {}).items():
        section, dot, rest = key.partition(".")
        if dot and section in sections:
            _set_path(values[section], rest.split("."), value, key)
        elif key in TOP_LEVEL:
            top[key] = value
        else:
            valid = ", ".join([*TOP_LEVEL, *(f"{name}.<key>" for name in sections)])
            raise UserError(f"unknown pipeline parameter {key!r}: use one of {valid}")
    built = {name: _build(cls, values[name], name) for name, cls in sections.items()}
    return PipelineSettings(preset=preset, **built, **top)
