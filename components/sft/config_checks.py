"""Value checks shared by the training configs (SFT, GRPO): each returns the first problem, with its fix.

    problem = training_problem("sft", cfg)       # None when every shared knob is valid
    problem = sections_problem(raw, "tiny.yaml")  # unknown top-level section of a preset file
    raw = read_yaml(path)                         # a preset file; invalid YAML is a UserError naming it

The configs' own `__post_init__` call these and raise their usual error type with the message.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from pathlib import Path
from typing import Any

import yaml

from vrt.errors import UserError

# Top-level keys of a preset file, over every step that reads one (pipelines/settings.py, sft, grpo).
KNOWN_SECTIONS = ("model", "runtime", "launcher", "work_uri", "data", "sft", "grpo", "gpu", "evaluate", "register", "deploy")
NON_NEGATIVE = ("grad_clip", "weight_decay", "eval_samples", "warmup_ratio", "kl_coef")
POSITIVE = ("global_batch_size", "micro_batch_size", "k8s_timeout_s")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def training_problem(section: str, cfg: Any) -> str | None:
    """First invalid shared value of a training config dataclass (lr, batch sizes, clip, decay, timeouts,
    run name, any non-finite float), or None."""
    values = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    for name, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            return f"{section}.{name} must be a finite number, got {value}"
    lr = values.get("lr")
    if _number(lr) and lr <= 0:
        return f"{section}.lr must be > 0, got {lr}: set e.g. {section}.lr=1e-5"
    for name in POSITIVE:
        if _number(values.get(name)) and values[name] <= 0:
            return f"{section}.{name} must be > 0, got {values[name]}"
    for name, value in values.items():
        negative = _number(value) and value < 0
        if negative and (name in NON_NEGATIVE or name.endswith("timeout_s")):
            return f"{section}.{name} must be >= 0, got {value}"
    run_name = values.get("run_name")
    if isinstance(run_name, str) and run_name and (
        any(c in run_name for c in "/\\") or run_name in (".", "..") or not run_name.isprintable()
    ):
        return (
            f"{section}.run_name={run_name!r} must be a plain name (no path separators, not . or ..): "
            "it becomes a folder under the output"
        )
    return None


def sections_problem(raw: dict[str, Any], source: str) -> str | None:
    """An unknown top-level section of a preset mapping, with the close matches, or None."""
    for key in raw:
        if key not in KNOWN_SECTIONS:
            close = difflib.get_close_matches(str(key), KNOWN_SECTIONS, n=2, cutoff=0.5)
            hint = f"did you mean {' or '.join(close)}?" if close else f"valid: {', '.join(KNOWN_SECTIONS)}"
            return f"{source}: unknown top-level section {key!r} ({hint})"
    return None


def yaml_value(text: str, where: str) -> Any:
    """`text` parsed as YAML; invalid YAML is a one-line UserError naming `where` and the position."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or "not parseable"
        raise UserError(f"{where} is not valid YAML{at}: {problem}; fix it") from e


def read_yaml(path: Path) -> Any:
    """The YAML document of a config file (see yaml_value)."""
    return yaml_value(Path(path).read_text(), str(path))
