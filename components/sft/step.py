"""The `sft` pipeline step's logic: Dataset artifact files in, Model artifact file (the model manifest) out.

    meta = run_step("tiny", ["sft.max_steps=8"], "dataset.json", "", "model.json", runtime="local")
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


def run_step(config: str, overrides: list[str], dataset_path: str, eval_path: str, model_path: str,
             runtime: str = "local") -> dict[str, Any]:
    """Train with the preset + overrides on the artifact's dataset; write the model manifest to `model_path`."""
    from components.sft.config import load_train_config
    from components.sft.launch import run_sft

    extra = [f"sft.dataset={dataset_uri(dataset_path)}"]
    if eval_path:
        extra.append(f"sft.eval_dataset={dataset_uri(eval_path)}")
    manifest = run_sft(load_train_config(config, [*overrides, *extra]), runtime=runtime)
    path = Path(model_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(manifest.to_json())
    return {"uri": manifest.uri, "sha256": manifest.sha256, "preset": manifest.preset, "step": manifest.step,
            "format": manifest.format, **{k: float(v) for k, v in manifest.metrics.items()}}
