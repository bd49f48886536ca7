"""The `register` step: a Model artifact + its evaluation metrics -> a registered, gated model version.

Logs the model as an MLflow 3 LoggedModel with a pyfunc flavor (components/register/mlflow_model.py)
in a run that is a child of the pipeline's run; the evaluation metrics are metrics of that model and
run, the training and benchmark datasets its inputs, the lineage (git commit, config hash, dataset
digest and revision, pipeline run id) tags; then creates a model version from it and runs the gate.
Called by `components/register/component.py`; usable directly:

    from components.register.step import register_model
    result = register_model(Path("model.json"), {"vrt_bench/A-mIoU": 0.41, "vrt_bench/R-LQ": 0.52}, "vrt-tiny",
                            GateConfig())
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.register import registry
from components.register.gate import GateConfig, legacy_names
from vrt import storage
from vrt.errors import UserError

LINEAGE_KEYS = ("dataset_manifest_sha256", "dataset_revision", "git_commit", "config_hash")


@dataclass(frozen=True)
class RegisterResult:
    """The registered version (`models:/NAME/VERSION`), the alias it got, and the gate's reason."""

    model_uri: str
    version: str
    alias: str
    reason: str


def read_model_artifact(path: Path) -> dict[str, Any]:
    """Parse the SFT/GRPO step's Model artifact file (JSON pointer with uri, sha256, preset, lineage)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(
            f"model artifact {path} is not readable JSON ({e}); pass the training step's Model output"
        ) from e
    if not isinstance(data, dict) or not data.get("uri"):
        raise UserError(f"model artifact {path} has no 'uri' field; it must point at the model directory")
    return data


def artifact_values(path: str, metadata: dict[str, Any] | None) -> dict[str, Any]:
    """A KFP artifact's content: its metadata, updated by its file when that holds a JSON object."""
    values = dict(metadata or {})
    file = Path(path)
    if file.is_file():
        try:
            data = json.loads(file.read_text() or "{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(
                f"artifact file {path} is not JSON ({e}); the producing step must write a JSON object"
            ) from e
        if isinstance(data, dict):
            values.update(data)
    return values


def clean_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """Keep the finite numeric metrics (KFP metadata may carry other keys)."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            continue
        out[str(key)] = float(value)
    return out


def lineage_tags(artifact: dict[str, Any], dataset: dict[str, Any], pipeline_run_id: str) -> dict[str, str]:
    """Model-version tags recording where the version came from; dataset fields fill gaps in the model's lineage."""
    lineage = dict(artifact.get("lineage") or {})
    lineage.setdefault("dataset_manifest_sha256", dataset.get("sha256", ""))
    lineage.setdefault("dataset_revision", dataset.get("revision", ""))
    tags = {f"vrt.{k}": str(lineage.get(k) or "") for k in LINEAGE_KEYS}
    tags.update(
        {
            "vrt.model_uri": str(artifact["uri"]),
            "vrt.model_sha256": str(artifact.get("sha256", "")),
            "vrt.preset": str(artifact.get("preset", "")),
            "vrt.train_step": str(artifact.get("step", "")),
            "vrt.pipeline_run_id": pipeline_run_id,
            "vrt.dataset_uri": str(dataset.get("uri", "")),
        }
    )
    return {k: v for k, v in tags.items() if v}


def _create_version(name: str, model_id: str, run_id: str, tags: dict[str, str]) -> str:
    from mlflow.exceptions import MlflowException

    c = registry.client()
    try:
        c.create_registered_model(
            name, description="VRT grounded visual reasoning model (vrt model list NAME)"
        )
    except MlflowException as e:
        if e.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    return str(c.create_model_version(name, f"models:/{model_id}", run_id=run_id, tags=tags, model_id=model_id).version)


def log_datasets(datasets: dict[str, dict[str, Any]], model_id: str) -> None:
    """Each dataset pointer as an MLflow input of the run and the LoggedModel (name source@revision, digest)."""
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.entities import LoggedModelInput

    for role, pointer in datasets.items():
        uri = str(pointer.get("uri") or "")
        if not uri or not pointer.get("sha256"):
            raise UserError(f"{role} dataset pointer lacks uri/sha256 ({pointer}); pass the dataset step's output")
        location = uri if storage.is_s3(uri) else str(Path(uri).resolve())
        with warnings.catch_warnings():  # mlflow registers the local-file source class twice and warns
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(storage.join(location, "manifest.json"))
        name = f"{pointer.get('source', role)}@{pointer.get('revision') or 'local'}"
        ds = MetaDataset(source=source, name=name, digest=str(pointer["sha256"])[:16])
        mlflow.log_input(ds, context=role, model=LoggedModelInput(model_id))


def register_model(
    artifact_path: Path,
    metrics: dict[str, Any],
    name: str,
    cfg: GateConfig,
    datasets: dict[str, dict[str, Any]] | None = None,
    pipeline_run_id: str = "",
) -> RegisterResult:
    """Log the model of `artifact_path` as an MLflow model (pyfunc), register it under `name` with its
    `metrics` (on the LoggedModel and the run) and `datasets` ({role: pointer}) as inputs, then gate it."""
    import mlflow

    from components.register.mlflow_model import log_vrt_model
    from vrt.tracking import step_run

    artifact = read_model_artifact(artifact_path)
    values = clean_metrics(metrics)
    missing = [m for m in (cfg.primary, *cfg.guards) if m not in legacy_names(values)]
    if missing:
        raise UserError(
            f"metrics lack {', '.join(missing)} (have: {', '.join(sorted(values)) or 'none'}); "
            "pass the evaluate step's metrics or change the gate's primary/guards"
        )
    datasets = datasets or {}
    tags = lineage_tags(artifact, datasets.get("training") or {}, pipeline_run_id)
    with tempfile.TemporaryDirectory(prefix="vrt-register-") as tmp:
        model_dir = storage.download_dir(str(artifact["uri"]), Path(tmp) / "model")
        with step_run("register", params={"model_name": name, **cfg.__dict__}, tags=tags) as run:
            model_id = log_vrt_model(model_dir, run.info.run_id, tags, {"preset": str(artifact.get("preset", ""))})
            log_datasets(datasets, model_id)
            mlflow.log_metrics(values, model_id=model_id)
            version = _create_version(name, model_id, run.info.run_id, tags)
            decision = registry.gate(name, version, cfg)
            mlflow.set_tags({"vrt.registered_version": version, "vrt.model_id": model_id, registry.GATE_TAG: decision.alias})
    return RegisterResult(f"models:/{name}/{version}", version, decision.alias, decision.reason)
