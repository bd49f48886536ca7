"""KubeRay `RayJob`: build the manifest, create it, watch it to the end, stream the driver's logs.

    spec = RayJobSpec(name="sft-4b-1", namespace="vrt", image="vrt-train:0.1.0", entrypoint="python -m ...",
                      workers=8, gpus_per_worker=1, node_selector={"vrt.dev/gpu-pool": "true"})
    manifest = build_rayjob(spec)                       # a plain dict (ray.io/v1)
    run_rayjob(manifest, timeout_s=86400)               # raises RuntimeError on FAILED / timeout

The head group runs the driver on CPU; the worker group carries the GPU resource, the GPU
pool's node selector and tolerations. Environment from Secrets goes by reference (`envFrom`),
never by value. Ctrl-C (or any error while watching) deletes the RayJob.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vrt.k8s import platform

GROUP, VERSION, PLURAL = "ray.io", "v1", "rayjobs"
TERMINAL_OK = {"SUCCEEDED"}
TERMINAL_BAD = {"FAILED", "STOPPED"}
DEPLOYMENT_BAD = {"Failed", "ValidationFailed"}


@dataclass(frozen=True)
class RayJobSpec:
    """What a RayJob needs; defaults fit a small head on the CPU pool."""

    name: str
    namespace: str  # "": the step pod's namespace (vrt.k8s.platform.namespace)
    image: str
    entrypoint: str
    workers: int = 1
    gpus_per_worker: int = 0
    gpu_resource: str = "nvidia.com/gpu"
    worker_cpus: int = 4
    worker_memory: str = "32Gi"
    head_cpus: int = 2
    head_memory: str = "8Gi"
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    env_from_secrets: list[str] = field(default_factory=list)
    runtime_env_yaml: str = ""
    active_deadline_s: int = 86400
    ttl_after_finished_s: int = 600
    ray_version: str = "2.60.0"
    labels: dict[str, str] = field(default_factory=dict)
    # Pods' identity (workload identity for S3); default: the chart's runner account from the step's env.
    service_account: str = field(default_factory=lambda: os.environ.get("VRT_SERVICE_ACCOUNT", ""))

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"RayJob {self.name}: workers must be >= 1, got {self.workers}")
        if self.active_deadline_s < 1:
            raise ValueError(f"RayJob {self.name}: active_deadline_s must be >= 1")
        for key, value in self.env.items():
            if any(word in key.upper() for word in ("SECRET", "PASSWORD", "TOKEN")):
                raise ValueError(f"env {key} looks like a secret: pass it with env_from_secrets (a Secret name)")
            if not isinstance(value, str):
                raise TypeError(f"env {key} must be a string, got {type(value).__name__}")


def _container(spec: RayJobSpec, name: str, cpus: int, memory: str, gpus: int) -> dict[str, Any]:
    limits: dict[str, Any] = {"cpu": str(cpus), "memory": memory}
    if gpus:
        limits[spec.gpu_resource] = gpus
    container: dict[str, Any] = {
        "name": name,
        "image": spec.image,
        "resources": {"requests": {"cpu": str(cpus), "memory": memory}, "limits": limits},
        "env": [{"name": k, "value": v} for k, v in sorted(spec.env.items())],
    }
    if spec.env_from_secrets:
        container["envFrom"] = [{"secretRef": {"name": s}} for s in spec.env_from_secrets]
    return container


def _pod(spec: RayJobSpec, container: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [container]}
    if spec.service_account:
        pod["serviceAccountName"] = spec.service_account
    return pod


def build_rayjob(spec: RayJobSpec) -> dict[str, Any]:
    """The RayJob manifest (ray.io/v1) for `spec`."""
    head = {
        "rayStartParams": {"dashboard-host": "0.0.0.0", "num-gpus": "0"},
        "template": {"spec": _pod(spec, _container(spec, "ray-head", spec.head_cpus, spec.head_memory, 0))},
    }
    worker_pod = _pod(
        spec, _container(spec, "ray-worker", spec.worker_cpus, spec.worker_memory, spec.gpus_per_worker)
    )
    if spec.node_selector:
        worker_pod["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        worker_pod["tolerations"] = [dict(t) for t in spec.tolerations]
    workers = {
        "groupName": "gpu-workers" if spec.gpus_per_worker else "cpu-workers",
        "replicas": spec.workers,
        "minReplicas": spec.workers,
        "maxReplicas": spec.workers,
        "rayStartParams": {},
        "template": {"spec": worker_pod},
    }
    body: dict[str, Any] = {
        "entrypoint": spec.entrypoint,
        "submissionMode": "K8sJobMode",
        "shutdownAfterJobFinishes": True,
        "ttlSecondsAfterFinished": spec.ttl_after_finished_s,
        "activeDeadlineSeconds": spec.active_deadline_s,
        "backoffLimit": 0,
        "rayClusterSpec": {"rayVersion": spec.ray_version, "headGroupSpec": head, "workerGroupSpecs": [workers]},
    }
    if spec.runtime_env_yaml:
        body["runtimeEnvYAML"] = spec.runtime_env_yaml
    labels = {"app.kubernetes.io/part-of": "vrt", **spec.labels}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "RayJob",
        "metadata": {"name": spec.name, "namespace": platform.namespace(spec.namespace), "labels": labels},
        "spec": body,
    }


class RayJobFailed(RuntimeError):
    """The RayJob ended FAILED/STOPPED, or did not finish in time."""


def _status(api: Any, name: str, namespace: str) -> tuple[str, str, str]:
    obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    status = obj.get("status") or {}
    return status.get("jobStatus", ""), status.get("jobDeploymentStatus", ""), status.get("message", "")


class LogFollower:
    """Prints the driver's new log lines (the submitter pods of the RayJob's K8s Job) on each poll."""

    def __init__(self, core: Any, name: str, namespace: str, emit: Callable[[str], None]) -> None:
        self.core, self.name, self.namespace, self.emit = core, name, namespace, emit
        self.seen: dict[str, int] = {}

    def poll(self) -> None:
        from kubernetes.client.exceptions import ApiException

        pods = self.core.list_namespaced_pod(self.namespace, label_selector=f"job-name={self.name}").items
        for pod in pods:
            try:
                text = self.core.read_namespaced_pod_log(pod.metadata.name, self.namespace)
            except ApiException:  # container not started yet
                continue
            lines = text.splitlines()
            for line in lines[self.seen.get(pod.metadata.name, 0) :]:
                self.emit(line)
            self.seen[pod.metadata.name] = len(lines)


def watch_rayjob(api: Any, core: Any, name: str, namespace: str, timeout_s: float, poll_s: float = 5.0,
                 emit: Callable[[str], None] = print) -> str:
    """Poll until the job succeeds (returns its jobStatus); RayJobFailed on failure or timeout."""
    logs = LogFollower(core, name, namespace, emit)
    deadline = time.monotonic() + timeout_s
    last = None
    while True:
        job, deployment, message = _status(api, name, namespace)
        logs.poll()
        if (job, deployment) != last:
            emit(f"rayjob {namespace}/{name}: jobStatus={job or '-'} deployment={deployment or '-'}")
            last = (job, deployment)
        if job in TERMINAL_OK:
            return job
        if job in TERMINAL_BAD or deployment in DEPLOYMENT_BAD:
            raise RayJobFailed(f"RayJob {namespace}/{name} ended {job or deployment}: {message or 'see the logs above'}")
        if time.monotonic() > deadline:
            raise RayJobFailed(f"RayJob {namespace}/{name} did not finish within {timeout_s:.0f}s (last {job or deployment})")
        time.sleep(poll_s)


def delete_rayjob(api: Any, name: str, namespace: str) -> None:
    """Delete the RayJob (its cluster goes with it); a missing one is fine."""
    from kubernetes.client.exceptions import ApiException

    try:
        api.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as e:
        if e.status != 404:
            raise


def run_rayjob(manifest: dict[str, Any], timeout_s: float, poll_s: float = 5.0, api_client: Any = None,
               emit: Callable[[str], None] = print) -> str:
    """Create the RayJob, watch it, stream its logs; delete it on cancel, timeout or failure to watch."""
    from kubernetes import client, config

    if api_client is None:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            config.load_kube_config()
        api_client = client.ApiClient()
    api, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
    api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, manifest)
    emit(f"created rayjob {namespace}/{name}")
    try:
        return watch_rayjob(api, core, name, namespace, timeout_s, poll_s, emit)
    except RayJobFailed as e:
        if "did not finish" in str(e):
            delete_rayjob(api, name, namespace)
        raise
    except BaseException:
        delete_rayjob(api, name, namespace)
        raise
