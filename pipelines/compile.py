"""Compile a preset's pipeline to KFP IR YAML: `vrt pipeline compile --preset tiny --out vrt_train.yaml`."""

from __future__ import annotations

from pathlib import Path

from pipelines.settings import load_settings
from vrt.errors import UserError


def compile_pipeline(preset: str, out: Path, overrides: dict | None = None) -> Path:
    """Write the pipeline of `preset` as KFP IR YAML to `out` (atomically) and return the path."""
    from kfp import compiler

    from pipelines.vrt_train import build_pipeline

    out = Path(out)
    if out.suffix not in (".yaml", ".yml"):
        raise UserError(f"--out {out} must end with .yaml (KFP writes IR YAML)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".tmp-{out.name}")
    compiler.Compiler().compile(build_pipeline(load_settings(preset, overrides)), str(tmp))
    tmp.replace(out)
    return out
