"""The R-Sa2VA model family (Qwen3-VL + SAM 2 mask decoder): presets, processing, modeling, generation.

    from models import load_preset, RSa2VA
    model = RSa2VA.from_preset(load_preset("tiny"), seed=0)
    traces = model.predict(images, questions, max_new_tokens=64)

No kfp / mlflow / kserve / vrt imports here (DESIGN.md §3). torch and transformers load lazily,
so `from models import load_preset` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from models.config import ModelPreset, load_preset, preset_names

if TYPE_CHECKING:
    from models.modeling import RSa2VA, RSa2VAOutput
    from models.processing import RSa2VAProcessor
    from models.trace import Trace

_LAZY = {
    "RSa2VA": "models.modeling",
    "RSa2VAOutput": "models.modeling",
    "RSa2VAProcessor": "models.processing",
    "Trace": "models.trace",
}

__all__ = ["ModelPreset", "RSa2VA", "RSa2VAOutput", "RSa2VAProcessor", "Trace", "load_preset", "preset_names"]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")
