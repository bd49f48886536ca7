"""Save / load an RSa2VA model as an HF-style directory (safetensors only).

    model.save_pretrained("ckpt/")      # config.json, model.safetensors, tokenizer files, processor_config.json
    model = RSa2VA.from_pretrained("ckpt/")

config.json holds the preset and both towers' transformers configs; model.safetensors holds
every weight (towers, `[SEG]` projection, LoRA adapters). The directory is written next to its
destination and renamed into place, so a half-written checkpoint is never left under the name.
"""

from __future__ import annotations

import json
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path

import torch

FORMAT = "rsa2va"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@contextmanager
def _default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _replace_dir(tmp: Path, directory: Path) -> None:
    old = directory.with_name(f".{directory.name}.old-{uuid.uuid4().hex[:8]}")
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    if old.exists():
        shutil.rmtree(old)


class SaveLoadMixin:
    """`save_pretrained` / `from_pretrained` for RSa2VA."""

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write the model directory atomically; returns its path."""
        from safetensors.torch import save_model

        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = directory.with_name(f".{directory.name}.partial-{uuid.uuid4().hex[:8]}")
        tmp.mkdir()
        try:
            config = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "preset": self.preset.to_dict(),
                "vlm_config": self.vlm.config.to_dict(),
                "sam_config": self.sam.config.to_dict(),
            }
            (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2))
            save_model(self, str(tmp / WEIGHTS_FILE), metadata={"format": "pt"})
            self.processor.save_pretrained(tmp)
            _replace_dir(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path):
        """Load a directory written by `save_pretrained` (outputs are bit-identical to the saved model)."""
        from safetensors.torch import load_model
        from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Sam2Config, Sam2Model

        from models.config import preset_from_dict
        from models.processing import RSa2VAProcessor
        from models.towers import DTYPES

        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file() or not (directory / WEIGHTS_FILE).is_file():
            raise ValueError(
                f"{directory} is not an RSa2VA checkpoint: need {CONFIG_FILE} and {WEIGHTS_FILE}"
            )
        config = json.loads((directory / CONFIG_FILE).read_text())
        if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{directory}/{CONFIG_FILE}: format {config.get('format')!r} v{config.get('format_version')}, "
                f"expected {FORMAT!r} v{FORMAT_VERSION}"
            )
        preset = preset_from_dict(config["preset"])
        with _default_dtype(DTYPES[preset.dtype]):
            vlm = Qwen3VLForConditionalGeneration(Qwen3VLConfig.from_dict(config["vlm_config"]))
            sam = Sam2Model(Sam2Config.from_dict(config["sam_config"]))
        model = cls(preset, vlm, sam, RSa2VAProcessor.from_pretrained(directory))
        load_model(model, str(directory / WEIGHTS_FILE), strict=True)
        return model.eval()
