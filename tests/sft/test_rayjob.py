"""KubeRay RayJob: schema-valid manifest with the GPU placement on the worker group; create/watch/delete
through the real `kubernetes` client against a loopback API server."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components.sft.config import load_train_config
from components.sft.launch import CONFIG_ENV, rayjob_manifest
from tests.sft.k8s_server import FakeKubernetes
from vrt.k8s.crds import validate_custom_resource
from vrt.k8s.rayjob import RayJobFailed, RayJobSpec, build_rayjob, run_rayjob


@pytest.fixture()
def manifest(monkeypatch) -> dict:
    monkeypatch.setenv("VRT_NAMESPACE", "kubeflow")  # the launcher pod's namespace (downward API)
    monkeypatch.setenv("VRT_SERVICE_ACCOUNT", "vrt-pipeline-runner")  # the chart's ConfigMap
    cfg = load_train_config("4b", ["sft.dataset=s3://b/data", "sft.output=s3://b/sft"])
    return rayjob_manifest(cfg, "registry.example/vrt-train:0.1.0", "sft-4b-20261122")


def test_manifest_is_schema_valid(manifest: dict, shared_dir: Path) -> None:
    validate_custom_resource(manifest, shared_dir / "crds")


def test_manifest_carries_gpu_placement_on_workers_only(manifest: dict) -> None:
    spec = manifest["spec"]
    assert manifest["metadata"]["namespace"] == "kubeflow"
    assert (spec["shutdownAfterJobFinishes"], spec["activeDeadlineSeconds"], spec["submissionMode"]) == (
        True, 172800, "K8sJobMode")
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in head["containers"][0]["resources"]["limits"]
    assert "nodeSelector" not in head and "tolerations" not in head
    (group,) = spec["rayClusterSpec"]["workerGroupSpecs"]
    assert (group["groupName"], group["replicas"], group["minReplicas"], group["maxReplicas"]) == ("gpu-workers", 8, 8, 8)
    pod = group["template"]["spec"]
    assert pod["serviceAccountName"] == head["serviceAccountName"] == "vrt-pipeline-runner"
    assert pod["nodeSelector"] == {"vrt.dev/gpu-pool": "true"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}]
    container = pod["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": 1}
    assert container["envFrom"] == [{"secretRef": {"name": "vrt-s3-credentials"}}, {"secretRef": {"name": "vrt-mlflow-client"}}]
    assert container["image"] == "registry.example/vrt-train:0.1.0"
    config = yaml.safe_load(yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"][CONFIG_ENV])
    assert (config["model"], config["sft"]["run_name"], config["sft"]["dataset"]) == ("4b", "sft-4b-20261122", "s3://b/data")


def test_secret_values_are_refused() -> None:
    with pytest.raises(ValueError, match="env AWS_SECRET_ACCESS_KEY looks like a secret: pass it with env_from_secrets"):
        RayJobSpec(name="x", namespace="n", image="i", entrypoint="e", env={"AWS_SECRET_ACCESS_KEY": "v"})


def _job() -> dict:
    return build_rayjob(RayJobSpec(name="sft-run", namespace="vrt", image="i", entrypoint="python -m x"))


def _client(fake: FakeKubernetes):
    from kubernetes import client

    configuration = client.Configuration()
    configuration.host = fake.host
    return client.ApiClient(configuration)


def _run(statuses: list[dict], timeout_s: float = 30.0, emit=None):
    fake = FakeKubernetes(statuses, ["step 1 loss 10.8", "step 2 loss 10.7", "done"])
    lines: list[str] = []
    try:
        result = run_rayjob(_job(), timeout_s=timeout_s, poll_s=0.01, api_client=_client(fake),
                            emit=emit or lines.append)
        return fake, lines, result, None
    except (RayJobFailed, KeyboardInterrupt) as e:
        return fake, lines, None, e
    finally:
        fake.close()


def test_watch_until_succeeded_streams_each_log_line_once() -> None:
    running = {"jobStatus": "RUNNING", "jobDeploymentStatus": "Running"}
    fake, lines, result, error = _run([{}, running, running, {"jobStatus": "SUCCEEDED", "jobDeploymentStatus": "Complete"}])
    assert (result, error) == ("SUCCEEDED", None)
    assert [line for line in lines if line.startswith("step") or line == "done"] == [
        "step 1 loss 10.8", "step 2 loss 10.7", "done"]
    assert "rayjob vrt/sft-run: jobStatus=RUNNING deployment=Running" in lines
    assert ("POST", "/apis/ray.io/v1/namespaces/vrt/rayjobs") in fake.requests
    assert not any(method == "DELETE" for method, _ in fake.requests)


def test_failed_job_fails_clearly() -> None:
    failed = {"jobStatus": "FAILED", "jobDeploymentStatus": "Failed", "message": "worker OOM"}
    _, _, result, error = _run([{"jobStatus": "RUNNING"}, failed])
    assert result is None and isinstance(error, RayJobFailed)
    assert str(error) == "RayJob vrt/sft-run ended FAILED: worker OOM"


def test_timeout_deletes_the_job() -> None:
    fake, _, _, error = _run([{"jobStatus": "RUNNING", "jobDeploymentStatus": "Running"}], timeout_s=0.2)
    assert isinstance(error, RayJobFailed) and "did not finish within 0s (last RUNNING)" in str(error)
    assert ("DELETE", "/apis/ray.io/v1/namespaces/vrt/rayjobs/sft-run") in fake.requests
    assert fake.objects == {}


def test_cancel_deletes_the_job() -> None:
    def emit(line: str) -> None:
        if line.startswith("step 1"):
            raise KeyboardInterrupt

    fake, _, _, error = _run([{"jobStatus": "RUNNING"}], emit=emit)
    assert isinstance(error, KeyboardInterrupt)
    assert ("DELETE", "/apis/ray.io/v1/namespaces/vrt/rayjobs/sft-run") in fake.requests
