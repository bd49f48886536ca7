"""A real MLflow tracking server on loopback (SQLite backend, artifacts in the moto S3 server) as a fixture.

Test modules import it (`from registry_server import mlflow_server`); one server per module.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def _root_conftest():
    """tests/conftest.py's helpers (free_port, wait_http), loaded by path: tests/ is not a package."""
    spec = importlib.util.spec_from_file_location(
        "vrt_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_ROOT = _root_conftest()
free_port, wait_http = _ROOT.free_port, _ROOT.wait_http


@pytest.fixture(scope="module")
def mlflow_server(s3_endpoint, tmp_path_factory) -> str:
    """`mlflow server` with SQLite + s3:// artifacts; MLFLOW_TRACKING_URI points at it during the module."""
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="mlflow")
    root = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    env = {**os.environ, "MLFLOW_S3_ENDPOINT_URL": s3_endpoint}
    cmd = [
        sys.executable,
        "-m",
        "mlflow",
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        "s3://mlflow/artifacts",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with open(root / "server.log", "w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=log, cwd=root)
    url = f"http://127.0.0.1:{port}"
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        wait_http(f"{url}/health", timeout=120)
        os.environ["MLFLOW_TRACKING_URI"] = url
        yield url
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved
        proc.terminate()
        proc.wait(timeout=30)


def write_model_artifact(tmp: Path, tag: str) -> Path:
    """A small model directory and the Model artifact JSON pointing at it."""
    model_dir = tmp / f"model-{tag}"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(f'{{"tag": "{tag}"}}')
    (model_dir / "weights.safetensors").write_bytes(b"\0" * 64)
    artifact = tmp / f"model-{tag}.json"
    lineage = {
        "dataset_manifest_sha256": "dsha",
        "dataset_revision": "rev1",
        "git_commit": "c0ffee",
        "config_hash": "h1",
    }
    artifact.write_text(
        json.dumps(
            {"uri": str(model_dir), "sha256": f"sha-{tag}", "preset": "tiny", "step": 7, "lineage": lineage}
        )
    )
    return artifact
