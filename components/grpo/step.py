"""The `grpo` pipeline step: Dataset + init Model pointers in, a Model pointer (the model manifest) out.

    metadata = grpo_step("tiny", ["grpo.max_steps=2"], "dataset.json", "sft_model.json", "model.json")

The dataset pointer's `uri` becomes the one source of `grpo.datasets` (`grpo.dataset` emptied, so a
preset's own dataset settings never clash with the pipeline's), the init model pointer file becomes
`init_from` (it is the SFT step's model manifest), and the GRPO model manifest is written
to `model_path` (what the KFP Model artifact holds); its fields are returned as metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def grpo_step(
    config: str,
    overrides: list[str],
    dataset_path: str,
    init_model_path: str,
    model_path: str,
    runtime: str = "local",
    launcher: str = "ray",
) -> dict[str, Any]:
    """Run GRPO for the pipeline and write the resulting model manifest to `model_path`."""
    from components.grpo.config import load_grpo_config
    from components.grpo.launch import run_grpo
    from components.sft.step import mixture_overrides

    wired = [*(overrides or []), *mixture_overrides("grpo", [dataset_path], []), f"grpo.init_from={init_model_path}"]
    manifest = run_grpo(load_grpo_config(config, wired), runtime=runtime, launcher=launcher)
    path = Path(model_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(manifest.to_json())
    return {
        "uri": manifest.uri,
        "sha256": manifest.sha256,
        "step": manifest.step,
        "preset": manifest.preset,
        "format": manifest.format,
        "lineage": json.dumps(manifest.lineage, sort_keys=True),
    }
