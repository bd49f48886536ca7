"""`prepare` on a cluster: the dataset step's RayJob (CPU workers, Ray-task conversion), created and
followed through the real `kubernetes` client against a loopback API server."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from components.dataset.launch import ClusterSettings, prepare_on_cluster, rayjob_manifest
from vrt.data.manifest import Manifest, write_manifest
from vrt.data.prepare import PrepareConfig
from vrt.errors import UserError

CFG = PrepareConfig("vrt-80k", "s3://raw/vrt-80k", "s3://b/ds/train", revision="abc", shard_size=500)


@pytest.fixture(autouse=True)
def _platform_env(monkeypatch) -> None:
    """The step pod's environment as the pipeline wires it from the chart (vrt.k8s.platform)."""
    for key, value in {"VRT_NAMESPACE": "ml-team", "VRT_S3_CREDENTIALS_SECRET_NAME": "vrt-s3-credentials",
                       "VRT_MLFLOW_CLIENT_SECRET_NAME": "vrt-mlflow-client", "VRT_SERVICE_ACCOUNT": "vrt-runner",
                       "MLFLOW_TRACKING_URI": "http://mlflow:5000"}.items():
        monkeypatch.setenv(key, value)


def test_rayjob_runs_the_cli_with_ray_tasks_on_cpu_workers() -> None:
    m = rayjob_manifest(CFG, ClusterSettings(workers=3, cpus_per_worker=8), "prepare-vrt-80k-1")
    assert m["metadata"]["namespace"] == "ml-team"
    spec = m["spec"]
    assert shlex.split(spec["entrypoint"]) == [
        "python", "-m", "vrt.cli.main", "data", "prepare", "--source", "vrt-80k", "--from", "s3://raw/vrt-80k",
        "--out", "s3://b/ds/train", "--shard-size", "500", "--row-group-size", "32", "--executor", "ray",
        "--workers", "24", "--revision", "abc"]
    (group,) = spec["rayClusterSpec"]["workerGroupSpecs"]
    assert (group["groupName"], group["replicas"]) == ("cpu-workers", 3)
    container = group["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"] == {"cpu": "8", "memory": "6Gi"}
    assert container["envFrom"] == [{"secretRef": {"name": "vrt-s3-credentials"}},
                                    {"secretRef": {"name": "vrt-mlflow-client"}}]
    assert group["template"]["spec"]["serviceAccountName"] == "vrt-runner"
    assert m["metadata"]["labels"]["vrt.io/step"] == "dataset"


def test_rayjob_manifest_is_schema_valid(shared_dir: Path) -> None:
    from vrt.k8s.crds import validate_custom_resource

    validate_custom_resource(rayjob_manifest(CFG, ClusterSettings(), "prepare-x"), shared_dir / "crds")


def test_local_paths_are_refused_on_the_cluster() -> None:
    with pytest.raises(UserError, match="runtime kubernetes needs --from on s3:// or hf:// and --out on s3://"):
        prepare_on_cluster(PrepareConfig("vrt-80k", "data/raw", "s3://b/ds"), ClusterSettings())


def test_launcher_creates_follows_and_reads_the_published_manifest(s3_bucket) -> None:
    from kubernetes import client

    from tests.sft.k8s_server import FakeKubernetes

    out = f"{s3_bucket}/ds"
    published = Manifest("vrt-80k", "abc", {"input": 1, "written": 0, "quarantined": 1}, {"crc_mismatch": 1}, [])
    write_manifest(out, published)
    fake = FakeKubernetes([{"jobStatus": "RUNNING", "jobDeploymentStatus": "Running"},
                           {"jobStatus": "SUCCEEDED", "jobDeploymentStatus": "Complete"}], ["published"])
    try:
        conf = client.Configuration()
        conf.host = fake.host
        cfg = PrepareConfig("vrt-80k", "s3://raw/x", out)
        got = prepare_on_cluster(cfg, ClusterSettings(), api_client=client.ApiClient(conf))
    finally:
        fake.close()
    assert got == published
    (created,) = [json.loads(json.dumps(o)) for o in fake.objects.values()]
    assert "--executor ray" in created["spec"]["entrypoint"]
