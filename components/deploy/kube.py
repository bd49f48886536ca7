"""Apply an InferenceService with the `kubernetes` client and wait until it is Ready.

    from components.deploy.kube import apply_inference_service, wait_ready
    apply_inference_service(obj)                  # create, or replace the spec of an existing one
    url = wait_ready("vrt-tiny", "vrt", timeout=900)

`api` is a `kubernetes.client.CustomObjectsApi`; by default one from the in-cluster config or
~/.kube/config.
"""

from __future__ import annotations

import time
from typing import Any

from vrt.errors import UserError

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"


def custom_objects_api():
    """CustomObjectsApi from the in-cluster service account, else the local kubeconfig."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config()
        except (config.ConfigException, FileNotFoundError) as e:
            raise UserError(f"no Kubernetes access ({e}): run in a cluster or set KUBECONFIG") from e
    return client.CustomObjectsApi()


def apply_inference_service(obj: dict[str, Any], api: Any = None) -> dict[str, Any]:
    """Create the InferenceService, or replace its spec (keeping resourceVersion) when it exists."""
    from kubernetes.client.exceptions import ApiException

    api = api or custom_objects_api()
    name, namespace = obj["metadata"]["name"], obj["metadata"]["namespace"]
    try:
        current = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    except ApiException as e:
        if e.status != 404:
            raise UserError(
                f"cannot read InferenceService {namespace}/{name}: HTTP {e.status} {e.reason}"
            ) from e
        return api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, obj)
    updated = {
        **obj,
        "metadata": {**obj["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]},
    }
    return api.replace_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, updated)


def _condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def wait_ready(name: str, namespace: str, timeout: float, api: Any = None, poll: float = 5.0) -> str:
    """Poll until the Ready condition is True (returns status.url); UserError with the last reason on timeout."""
    api = api or custom_objects_api()
    deadline = time.monotonic() + timeout
    last = "no status yet"
    while True:
        obj = api.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        ready = _condition(obj, "Ready")
        if ready and ready.get("status") == "True":
            url = (obj.get("status") or {}).get("url")
            if url:
                return url
            last = "Ready but no status.url yet"
        elif ready:
            last = f"{ready.get('reason', '')}: {ready.get('message', '')}".strip(": ")
        if time.monotonic() >= deadline:
            raise UserError(
                f"InferenceService {namespace}/{name} not Ready after {timeout:.0f}s ({last}); "
                f"inspect it with `kubectl -n {namespace} describe isvc {name}`"
            )
        time.sleep(poll)
