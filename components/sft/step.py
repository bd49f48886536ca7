"""The `sft` pipeline step's logic: Dataset artifact files in, Model artifact file (the model manifest) out.

    meta = run_step("tiny", ["sft.max_steps=8"], "dataset.json", "", "model.json", runtime="local")
    meta = run_step("tiny", [], "vrt.json", "", "model.json", mix_path="vgr.json", weights=[1.0, 0.5])

The pipeline's datasets become the step's mixture (`sft.datasets`, `sft.dataset` emptied), so a
preset's own `sft.dataset(s)` (for `vrt train sft`) never clashes with what the pipeline passes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vrt.errors import UserError


def dataset_uri(artifact_path: str) -> str:
    """The `uri` of a Dataset artifact file (the JSON pointer the dataset step writes)."""
    try:
        return json.loads(Path(artifact_path).read_text())["uri"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"{artifact_path} is not a dataset pointer with a 'uri' ({e}): connect a prepare_dataset output") from e


def mixture_overrides(section: str, paths: list[str], weights: list) -> list[str]:
    """`<section>.dataset=` and `<section>.datasets=[{uri, weight}, ...]` from Dataset pointer files and their
    weights (none given: 1 each)."""
    weights = list(weights) or [1.0] * len(paths)
    if len(weights) != len(paths):
        raise UserError(f"{len(weights)} weights for {len(paths)} datasets: give one weight per dataset")
    entries = [{"uri": dataset_uri(path), "weight": float(w)} for path, w in zip(paths, weights, strict=True)]
    return [f"{section}.dataset=", f"{section}.datasets={json.dumps(entries)}"]


def run_step(config: str, overrides: list[str], dataset_path: str, eval_path: str, model_path: str,
             runtime: str = "local", mix_path: str = "", weights: list | None = None,
             launcher: str = "ray") -> dict[str, Any]:
    """Train with the preset + overrides on the artifacts' datasets (`dataset_path`, plus `mix_path` when
    mixing, with `weights`); write the model manifest to `model_path`."""
    from components.sft.config import load_train_config
    from components.sft.launch import run_sft

    extra = mixture_overrides("sft", [dataset_path, *([mix_path] if mix_path else [])], weights or [])
    if eval_path:
        extra.append(f"sft.eval_dataset={dataset_uri(eval_path)}")
    manifest = run_sft(load_train_config(config, [*overrides, *extra]), runtime=runtime, launcher=launcher)
    path = Path(model_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(manifest.to_json())
    return {"uri": manifest.uri, "sha256": manifest.sha256, "preset": manifest.preset, "step": manifest.step,
            "format": manifest.format, **{k: float(v) for k, v in manifest.metrics.items()}}
