"""Render the KServe `InferenceService` of the predictor (custom container on the GPU pool).

- `s3://` model URIs are fetched by KServe's storage initializer (`STORAGE_URI` env, mounted at
  /mnt/models) with the S3 credentials attached to the service account;
- `models:/NAME/VERSION` URIs are resolved by the predictor through MLflow (`MLFLOW_TRACKING_URI`),
  with S3 credentials from a Secret by reference (`envFrom`), never by value.

    from components.deploy.isvc import DeployConfig, inference_service
    obj = inference_service(DeployConfig(name="vrt-tiny", model_uri="s3://models/vrt-tiny/v3"))
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from components.images import SERVE_IMAGE

MOUNT = "/mnt/models"
PORT = 8080
MODES = ("Serverless", "RawDeployment")
_DNS_RE = re.compile(r"^[a-z]([-a-z0-9]{0,43}[a-z0-9])?$")


@dataclass(frozen=True)
class DeployConfig:
    """Everything the InferenceService needs; defaults fit the chart's GPU pool."""

    name: str
    model_uri: str
    namespace: str = "vrt"
    image: str = SERVE_IMAGE
    model_name: str = "vrt"
    gpus: int = 1
    cpu: str = "4"
    memory: str = "24Gi"
    # The platform's one GPU pool (charts/vrt-platform values `gpu`); the deploy step passes the chart's.
    node_selector: dict[str, str] = field(default_factory=lambda: {"vrt.dev/gpu-pool": "true"})
    tolerations: tuple[dict[str, str], ...] = (
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"},
    )
    service_account: str = "vrt-predictor"  # created by the chart (serviceAccount.predictorName)
    s3_secret: str = ""
    env_secrets: tuple[str, ...] = ()  # more Secrets as env by reference (the MLflow client login)
    tracking_uri: str = ""
    canary_percent: int | None = None
    deployment_mode: str = "RawDeployment"
    min_replicas: int = 1
    max_replicas: int = 1
    max_new_tokens: int = 0  # 0: the model's own budget

    def __post_init__(self) -> None:
        if not _DNS_RE.match(self.name):
            raise ValueError(
                f"name {self.name!r} must be a DNS label (a-z, 0-9, '-', start with a letter, <= 45 chars)"
            )
        if not (self.model_uri.startswith(("s3://", "models:/"))):
            raise ValueError(
                f"model_uri {self.model_uri!r} must be s3://... or models:/NAME/VERSION for a cluster deploy"
            )
        if self.model_uri.startswith("models:/") and not self.tracking_uri:
            raise ValueError(
                "a models:/ URI needs tracking_uri (the MLflow server the predictor resolves it with)"
            )
        if self.deployment_mode not in MODES:
            raise ValueError(f"deployment_mode {self.deployment_mode!r}: use one of {', '.join(MODES)}")
        if self.canary_percent is not None and not 0 <= self.canary_percent <= 100:
            raise ValueError(f"canary_percent must be within 0..100, got {self.canary_percent}")
        if self.gpus < 0 or not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError("need gpus >= 0 and 1 <= min_replicas <= max_replicas")


def _container(cfg: DeployConfig) -> dict[str, Any]:
    from_s3 = cfg.model_uri.startswith("s3://")
    env = (
        [{"name": "STORAGE_URI", "value": cfg.model_uri}]
        if from_s3
        else [{"name": "MLFLOW_TRACKING_URI", "value": cfg.tracking_uri}]
    )
    resources: dict[str, dict[str, Any]] = {
        "requests": {"cpu": cfg.cpu, "memory": cfg.memory},
        "limits": {"memory": cfg.memory},
    }
    if cfg.gpus:
        resources["requests"]["nvidia.com/gpu"] = cfg.gpus
        resources["limits"]["nvidia.com/gpu"] = cfg.gpus
    container: dict[str, Any] = {
        "name": "kserve-container",
        "image": cfg.image,
        "command": ["python", "-m", "components.deploy.server"],
        "args": [
            "--model_uri",
            MOUNT if from_s3 else cfg.model_uri,
            "--model_name",
            cfg.model_name,
            "--host",
            "0.0.0.0",
            "--http_port",
            str(PORT),
            "--max_new_tokens",
            str(cfg.max_new_tokens),
        ],
        "ports": [{"containerPort": PORT, "protocol": "TCP"}],
        "env": env,
        "resources": resources,
        "readinessProbe": {
            "httpGet": {"path": f"/v2/models/{cfg.model_name}/ready", "port": PORT},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "runAsNonRoot": True,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        # The root filesystem is read-only: downloads and caches go to a scratch volume.
        "volumeMounts": [{"name": "scratch", "mountPath": "/tmp"}],
    }
    container["env"].append({"name": "HOME", "value": "/tmp"})
    secrets = [s for s in (cfg.s3_secret, *cfg.env_secrets) if s]
    if secrets:
        container["envFrom"] = [{"secretRef": {"name": s}} for s in secrets]
    return container


def inference_service(cfg: DeployConfig) -> dict[str, Any]:
    """The InferenceService manifest (serving.kserve.io/v1beta1) for `cfg`."""
    predictor: dict[str, Any] = {
        "containers": [_container(cfg)],
        "volumes": [{"name": "scratch", "emptyDir": {}}],
        "serviceAccountName": cfg.service_account,
        # The chart's NetworkPolicy admits traffic to vrt.io/role=predictor pods from the gateway only.
        "labels": {"vrt.io/role": "predictor"},
        "nodeSelector": dict(cfg.node_selector),
        "tolerations": [dict(t) for t in cfg.tolerations],
        "minReplicas": cfg.min_replicas,
        "maxReplicas": cfg.max_replicas,
    }
    if cfg.canary_percent is not None:
        predictor["canaryTrafficPercent"] = cfg.canary_percent
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": cfg.name,
            "namespace": cfg.namespace,
            "labels": {"app.kubernetes.io/part-of": "vrt-platform", "vrt.io/model": cfg.model_name},
            "annotations": {"serving.kserve.io/deploymentMode": cfg.deployment_mode},
        },
        "spec": {"predictor": predictor},
    }
