"""Final SFT export: the model directory (models' save_pretrained format) and its JSON manifest.

    manifest = export_model(module, run_dir, step=120, preset="tiny", lineage={...}, metrics={...})
    manifest.to_json()    # what the KFP Model artifact file holds

The directory goes to `<run_dir>/model/`; `model_manifest.json` is written after it, so a
manifest always points at a complete model. sha256 covers every file (names and bytes).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vrt import storage
from vrt.errors import UserError

MODEL_DIR = "model"
MODEL_MANIFEST = "model_manifest.json"
MODEL_FORMAT = "rsa2va"


@dataclass(frozen=True)
class ModelManifest:
    """A pointer to a trained model: where it is, what it is, where it came from."""

    uri: str
    sha256: str
    size_bytes: int
    preset: str
    step: int
    format: str = MODEL_FORMAT
    lineage: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> ModelManifest:
        try:
            return cls(**json.loads(text))
        except (ValueError, TypeError) as e:
            raise UserError(f"{where} is not a model manifest ({e}): re-run the sft step") from e


def dir_digest(directory: Path) -> tuple[str, int]:
    """sha256 over (relative name, bytes) of every file, and the total size."""
    digest, size = hashlib.sha256(), 0
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        data = path.read_bytes()
        digest.update(str(path.relative_to(directory)).encode() + b"\0")
        digest.update(hashlib.sha256(data).digest())
        size += len(data)
    return digest.hexdigest(), size


def export_model(module: Any, run_dir: str, step: int, preset: str, lineage: dict[str, Any],
                 metrics: dict[str, float]) -> ModelManifest:
    """save_pretrained into <run_dir>/model, then publish <run_dir>/model_manifest.json."""
    uri = storage.join(run_dir, MODEL_DIR)
    with tempfile.TemporaryDirectory(prefix="vrt-sft-export-") as tmp:
        local = module.save_pretrained(Path(tmp) / MODEL_DIR)
        sha, size = dir_digest(Path(local))
        storage.upload_dir(local, uri)
    manifest = ModelManifest(uri=uri, sha256=sha, size_bytes=size, preset=preset, step=step,
                             lineage=lineage, metrics=metrics)
    storage.write_bytes(storage.join(run_dir, MODEL_MANIFEST), manifest.to_json().encode())
    return manifest


def read_model_manifest(run_dir: str) -> ModelManifest:
    """The manifest a finished run published (UserError when the run did not finish)."""
    where = storage.join(run_dir, MODEL_MANIFEST)
    if not storage.exists(where):
        raise UserError(f"{where} not found: the SFT run in {run_dir} did not finish; resume it (sft.resume_from=latest)")
    return ModelManifest.from_json(storage.read_bytes(where).decode(), where)
