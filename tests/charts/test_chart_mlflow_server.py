"""The chart's MLflow start script and arguments, run for real on loopback: basic auth with the
admin password from the environment, the in-cluster allowed hosts, artifacts proxied to S3 (moto)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from helmutil import ROOT

from tests.conftest import free_port, wait_http

SVC = "vrt-vrt-platform-mlflow.vrt.svc.cluster.local:5000"


def request(url: str, host: str | None = None, auth: tuple[str, str] | None = None, body: dict | None = None):
    """(status, text) of one HTTP request with an optional Host header and basic auth."""
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if host:
        req.add_header("Host", host)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _server_args(deployment: dict, port: int, bucket: str) -> list[str]:
    args = []
    for arg in deployment["spec"]["template"]["spec"]["containers"][0]["args"]:
        key = arg.split("=", 1)[0]
        replaced = {"--host": "--host=127.0.0.1", "--port": f"--port={port}", "--workers": "--workers=1",
                    "--artifacts-destination": f"--artifacts-destination=s3://{bucket}/mlflow"}
        args.append(replaced.get(key, arg))
    return args


@pytest.fixture()
def mlflow_server(render, s3_bucket, tmp_path):
    """The rendered start.sh + args running `mlflow server` on a free port; yields (url, password, bucket)."""
    docs = render()
    script = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "vrt-vrt-platform-mlflow")
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    (tmp_path / "start.sh").write_text(script["data"]["start.sh"])
    bucket = s3_bucket.removeprefix("s3://")
    port, password = free_port(), secrets.token_urlsafe(18)
    env = {
        **os.environ, "HOME": str(tmp_path), "TMPDIR": str(tmp_path),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "MLFLOW_AUTH_ENABLED": "true", "MLFLOW_AUTH_DEFAULT_PERMISSION": "READ",
        "MLFLOW_AUTH_ADMIN_USERNAME": "admin", "MLFLOW_AUTH_ADMIN_PASSWORD": password,
        "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{tmp_path}/mlflow.db",
        "MLFLOW_S3_ENDPOINT_URL": os.environ["AWS_ENDPOINT_URL"],
    }
    log = open(tmp_path / "mlflow.log", "w")
    proc = subprocess.Popen(["sh", str(tmp_path / "start.sh"), *_server_args(deployment, port, bucket)],
                            env=env, stdout=log, stderr=log, cwd=tmp_path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health", timeout=180)
        yield url, password, bucket
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert "admin_password" not in (tmp_path / "mlflow-auth" / "basic_auth.ini").read_text()


@pytest.mark.slow
def test_rendered_mlflow_server_enforces_auth_hosts_and_proxies_artifacts(mlflow_server, monkeypatch):
    url, password, bucket = mlflow_server
    search = f"{url}/api/2.0/mlflow/experiments/search?max_results=5"
    assert request(f"{url}/health") == (200, "OK")
    assert request(search)[0] == 401
    assert request(search, auth=("admin", "wrong-password"))[0] == 401
    assert request(search, auth=("admin", password))[0] == 200
    assert request(search, host=SVC, auth=("admin", password))[0] == 200
    assert request(search, host="rebind.attacker.example", auth=("admin", password))[0] == 403

    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL", raising=False)
    client = mlflow.MlflowClient(tracking_uri=url)
    exp_id = client.create_experiment("chart-test")
    run = client.create_run(exp_id)
    client.log_text(run.info.run_id, "hello from the chart test", "notes/hello.txt")
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"mlflow/{exp_id}/{run.info.run_id}/artifacts/notes/hello.txt"]
