"""Resolve a model URI to a local model directory: a directory, `s3://...`, or `models:/NAME@ALIAS|VERSION`.

`models:/` URIs are resolved through the MLflow registry (vrt.tracking's URI) and their
artifacts downloaded: a registered version is an MLflow pyfunc model whose weights sit in its
`artifacts/weights/` folder (components/register/mlflow_model.py), the same artifact
`mlflow.pyfunc.load_model` loads; `s3://` prefixes are copied with vrt.storage. The directory must hold
an HF-style model (config.json + safetensors).

    from components.deploy.loader import resolve_model_dir
    path, version = resolve_model_dir("models:/vrt-tiny@champion", Path("/tmp/cache"))
"""

from __future__ import annotations

import re
from pathlib import Path

from vrt import storage
from vrt.errors import UserError

_MODELS_RE = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


def _registry_version(uri: str) -> str:
    """`models:/NAME@ALIAS` or `models:/NAME/VERSION` -> the version number it names now."""
    from components.register import registry

    match = _MODELS_RE.match(uri)
    if not match:
        raise UserError(f"{uri!r} is not a registry URI: write models:/NAME@ALIAS or models:/NAME/VERSION")
    ref = match["alias"] or match["version"]
    return registry.get_version(match["name"], ref).version


def _check_model_dir(path: Path, uri: str) -> Path:
    if not (path / "config.json").is_file():
        raise UserError(f"{uri} holds no config.json: point --model at a saved model directory")
    if not any(path.glob("*.safetensors")):
        raise UserError(f"{uri} holds no *.safetensors weights: only safetensors checkpoints are loaded")
    return path


def _pyfunc_weights(path: Path) -> Path:
    """The weights folder a registered pyfunc model wraps (its MLmodel's `weights` artifact)."""
    import yaml

    flavor = (yaml.safe_load((path / "MLmodel").read_text()).get("flavors") or {}).get("python_function") or {}
    weights = (flavor.get("artifacts") or {}).get("weights") or {}
    if not weights.get("path"):
        raise UserError(f"{path}/MLmodel names no 'weights' artifact: register the model with `vrt` (register step)")
    return path / weights["path"]


def resolve_model_dir(uri: str, cache_dir: Path) -> tuple[Path, str]:
    """Local directory holding the model of `uri`, and the registry version ('' when not from the registry)."""
    if uri.startswith("models:/"):
        import mlflow

        from vrt.tracking import tracking_uri

        version = _registry_version(uri)
        name = _MODELS_RE.match(uri)["name"]
        mlflow.set_tracking_uri(tracking_uri())
        dest = cache_dir / f"{name}-v{version}"
        path = Path(
            mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dest))
        )
        if (path / "MLmodel").is_file():  # the pyfunc model: serve the weights it wraps
            path = _pyfunc_weights(path)
        return _check_model_dir(path, uri), version
    if storage.is_s3(uri):
        dest = cache_dir / re.sub(r"[^\w.-]+", "_", uri[len("s3://") :]).strip("_")
        return _check_model_dir(storage.download_dir(uri, dest), uri), ""
    path = Path(uri)
    if not path.is_dir():
        raise UserError(
            f"{uri} is not a directory: pass a model directory, s3://BUCKET/PREFIX or models:/NAME@ALIAS"
        )
    return _check_model_dir(path, uri), ""
