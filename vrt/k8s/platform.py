"""The contract between the Helm chart and the pipeline steps: what each step reads on a cluster.

The chart (charts/vrt-platform) installs the ConfigMap `vrt-platform` and documents two Secrets;
the pipeline (pipelines/vrt_train.py) hands them to every step as environment variables with
kfp-kubernetes, plus the pod's namespace through the downward API. This module is the one list
of those names, and the run-time check that they arrived:

    from vrt.k8s import platform
    platform.check_step_env()          # no-op off a cluster; UserError naming what is missing on one
    platform.namespace()               # where RayJobs and InferenceServices go

On a cluster (`KUBERNETES_SERVICE_HOST` is set in every pod) a missing tracking URI or missing
credentials are errors, never a silent fallback to a local store.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from vrt.errors import UserError

CONFIG_MAP = "vrt-platform"  # the chart's platformConfigName
# ConfigMap keys the steps read, each as the environment variable of the same name.
CONFIG_KEYS = (
    "MLFLOW_TRACKING_URI",
    "VRT_MLFLOW_AUTH",
    "VRT_MLFLOW_CLIENT_SECRET_NAME",
    "AWS_ENDPOINT_URL",
    "AWS_DEFAULT_REGION",
    "VRT_S3_CREDENTIALS_SECRET_NAME",
    "VRT_IMAGE_REGISTRY",
    "VRT_IMAGE_TAG",
    "VRT_SERVICE_ACCOUNT",
    "VRT_PREDICTOR_SERVICE_ACCOUNT",
    "VRT_GPU_NODE_LABEL_KEY",
    "VRT_GPU_NODE_LABEL_VALUE",
    "VRT_GPU_TAINT_KEY",
    "VRT_GPU_TAINT_VALUE",
    "VRT_GPU_TAINT_EFFECT",
)


@dataclass(frozen=True)
class SecretEnv:
    """A Secret whose keys become environment variables of the same names (optional: may be absent)."""

    name: str
    keys: tuple[str, ...]
    name_env: str  # the ConfigMap key that says whether (and under which name) the install uses it
    create: str  # the command that creates it


S3_SECRET = SecretEnv(
    "vrt-s3-credentials",
    ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "VRT_S3_CREDENTIALS_SECRET_NAME",
    "kubectl -n NAMESPACE create secret generic vrt-s3-credentials "
    "--from-literal=AWS_ACCESS_KEY_ID=... --from-literal=AWS_SECRET_ACCESS_KEY=...",
)
MLFLOW_SECRET = SecretEnv(
    "vrt-mlflow-client",
    ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"),
    "VRT_MLFLOW_CLIENT_SECRET_NAME",
    "kubectl -n NAMESPACE create secret generic vrt-mlflow-client "
    "--from-literal=MLFLOW_TRACKING_USERNAME=admin --from-literal=MLFLOW_TRACKING_PASSWORD=...",
)
SECRETS = (S3_SECRET, MLFLOW_SECRET)
NAMESPACE_ENV = "VRT_NAMESPACE"  # downward API: metadata.namespace of the step's pod
# What a workload created by a step (RayJob pods) needs from the step's own environment.
WORKLOAD_ENV = ("MLFLOW_TRACKING_URI", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")


def on_cluster() -> bool:
    """True inside a Kubernetes pod (the kubelet sets KUBERNETES_SERVICE_HOST in every container)."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _hint(what: str) -> str:
    return (
        f"{what}: the pipeline reads it from ConfigMap {CONFIG_MAP} of the chart; install charts/vrt-platform "
        "into the namespace the pipeline runs in, and compile the pipeline with `vrt pipeline compile`"
    )


def check_step_env() -> None:
    """On a cluster: MLflow URI present, and the credentials the install declares present; no-op elsewhere."""
    if not on_cluster():
        return
    if os.environ.get("AWS_ENDPOINT_URL") == "":  # the ConfigMap's "" means AWS S3 itself: unset, for boto3
        del os.environ["AWS_ENDPOINT_URL"]
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        raise UserError(_hint("MLFLOW_TRACKING_URI is not set in this pod"))
    for secret in SECRETS:
        declared = os.environ.get(secret.name_env, "")
        if secret is MLFLOW_SECRET and os.environ.get("VRT_MLFLOW_AUTH", "true") != "true":
            continue
        missing = [k for k in secret.keys if not os.environ.get(k)]
        if declared and missing:
            raise UserError(
                f"{', '.join(missing)} not set in this pod: create Secret {declared} with keys "
                f"{', '.join(secret.keys)} ({secret.create})"
            )


def secret_names() -> list[str]:
    """The Secrets this install uses (names from the ConfigMap; empty ones are not used)."""
    return [os.environ[s.name_env] for s in SECRETS if os.environ.get(s.name_env)]


def namespace(explicit: str = "") -> str:
    """`explicit`, else the step pod's namespace, else the current kubeconfig context's namespace."""
    if explicit:
        return explicit
    if os.environ.get(NAMESPACE_ENV):
        return os.environ[NAMESPACE_ENV]
    from kubernetes import config

    try:
        _, context = config.list_kube_config_contexts()
        return (context or {}).get("context", {}).get("namespace") or "default"
    except (config.ConfigException, OSError) as e:  # no kubeconfig at all: say what to set
        raise UserError(f"no namespace: set {NAMESPACE_ENV} or k8s_namespace, or configure kubectl ({e})") from None


def gpu_placement() -> tuple[dict[str, str], list[dict[str, str]]]:
    """(node selector, tolerations) of the chart's GPU pool from the ConfigMap; empty when not given."""
    key, value = os.environ.get("VRT_GPU_NODE_LABEL_KEY", ""), os.environ.get("VRT_GPU_NODE_LABEL_VALUE", "")
    selector = {key: value} if key else {}
    taint = os.environ.get("VRT_GPU_TAINT_KEY", "")
    tolerations = []
    if taint:
        tolerations.append(
            {
                "key": taint,
                "operator": "Equal",
                "value": os.environ.get("VRT_GPU_TAINT_VALUE", ""),
                "effect": os.environ.get("VRT_GPU_TAINT_EFFECT", "NoSchedule"),
            }
        )
    return selector, tolerations


def rayjob_overrides(section: str) -> list[str]:
    """`<section>.k8s_namespace/k8s_secrets=...` for a training step's RayJob, from the step's environment."""
    import json

    out = [f"{section}.k8s_namespace={namespace()}"]
    return out + [f"{section}.k8s_secrets={json.dumps(secret_names())}"]
