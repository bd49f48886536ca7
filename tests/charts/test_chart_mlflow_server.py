"""The chart's MLflow start script and arguments, run for real on loopback: basic auth with the
admin password from the environment, the in-cluster allowed hosts, artifacts proxied to S3 (moto)."""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest

SVC = "vrt-vrt-platform-mlflow.vrt.svc.cluster.local:5000"


def request(url: str, host: str | None = None, auth: tuple[str, str] | None = None) -> tuple[int, str]:
    """(status, text) of one GET with an optional Host header and basic auth."""
    req = urllib.request.Request(url)
    if host:
        req.add_header("Host", host)
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float = 300) -> None:
    """Wait for `url` to answer 200; fail with the server's log when it exits or times out."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"mlflow server not ready (exit code {proc.poll()}):\n{log.read_text()[-3000:]}")


def _pod_env(container: dict, secret_data: dict[tuple[str, str], str]) -> dict[str, str]:
    """The container's env as the kubelet would set it, Secrets resolved from `secret_data`."""
    env = {}
    for e in container["env"]:
        if "value" in e:
            env[e["name"]] = e["value"]
        else:
            ref = e["valueFrom"]["secretKeyRef"]
            env[e["name"]] = secret_data[(ref["name"], ref["key"])]
    return env


@pytest.fixture()
def mlflow_server(render, s3_bucket, tmp_path):
    """The rendered start.sh, env and args running `mlflow server` on a free port; yields (url, password, bucket)."""
    docs = render(None, f"s3.endpoint={os.environ['AWS_ENDPOINT_URL']}")
    script = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "vrt-vrt-platform-mlflow")
    container = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    (tmp_path / "start.sh").write_text(script["data"]["start.sh"])
    bucket = s3_bucket.removeprefix("s3://")
    port, password = _free_port(), secrets.token_urlsafe(18)
    secret_data = {  # what `kubectl create secret` would hold in the cluster
        ("vrt-mlflow-admin", "password"): password,
        ("vrt-mlflow-admin", "flask-secret-key"): secrets.token_hex(32),
        ("vrt-mlflow-db", "uri"): f"sqlite:///{tmp_path}/mlflow.db",
        ("vrt-s3-credentials", "AWS_ACCESS_KEY_ID"): os.environ["AWS_ACCESS_KEY_ID"],
        ("vrt-s3-credentials", "AWS_SECRET_ACCESS_KEY"): os.environ["AWS_SECRET_ACCESS_KEY"],
    }
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        **_pod_env(container, secret_data),
        "HOME": str(tmp_path), "TMPDIR": str(tmp_path),
    }
    args = [a.replace("--workers=2", "--workers=1") for a in container["args"]]
    args = [f"--port={port}" if a.startswith("--port=") else a for a in args]
    args = [a.replace("s3://vrt/", f"s3://{bucket}/") for a in args]
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "mlflow.log", "w") as log:
        proc = subprocess.Popen(["sh", str(tmp_path / "start.sh"), *args], env=env, stdout=log, stderr=log, cwd=tmp_path)
        try:
            _wait_ready(proc, f"{url}/health", tmp_path / "mlflow.log")
            yield url, password, bucket
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert password not in (tmp_path / "mlflow-auth" / "basic_auth.ini").read_text()


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


@pytest.mark.slow
def test_whole_local_pipeline_logs_to_the_chart_server_with_env_credentials(mlflow_server, monkeypatch, tmp_path):
    """The chart's MLflow (basic auth on) receives a whole `vrt pipeline run --local`, the login coming
    from MLFLOW_TRACKING_USERNAME/PASSWORD as on a cluster (Secret vrt-mlflow-client); without them
    the run is refused before any step starts."""
    import mlflow

    from components.deploy.step import stop_local
    from pipelines.local import run_local

    url, password, _ = mlflow_server
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    small = {"data.n_train": 8, "data.n_bench": 2, "evaluate.max_new_tokens": 16}
    with pytest.raises(mlflow.exceptions.MlflowException, match="401|[Uu]nauthorized|credentials"):
        run_local("tiny", small)
    assert not (tmp_path / ".vrt" / "kfp").exists()  # refused before any step ran

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)
    try:
        result = run_local("tiny", small)
    finally:
        stop_local("vrt")
    assert (result.model_uri, result.alias) == ("models:/vrt-tiny/1", "champion")
    client = mlflow.MlflowClient(tracking_uri=url)
    runs = client.search_runs([client.get_experiment_by_name("vrt").experiment_id])
    children = sorted(r.info.run_name.split("-")[0] for r in runs if r.data.tags.get("mlflow.parentRunId") == result.mlflow_run_id)
    assert children == ["evaluate", "evaluate", "grpo", "register", "sft"]  # evaluate-vrt-bench, evaluate-reasonseg
    info = mlflow.models.get_model_info("models:/vrt-tiny@champion")
    assert "python_function" in info.flavors
