"""Rendered manifests pass schema validation, carry the pod security settings and embed no secret."""

from __future__ import annotations

import json

import kubernetes_validate
import pytest
import yaml
from helmutil import CHART, run_helm

from vrt.k8s.crds import validate_custom_resource
from vrt.k8s.secrets import find_embedded_secrets

K8S_VERSION = "1.33.0"
CUSTOM_GROUPS = ("serving.kserve.io/", "ray.io/")


def pod_specs(doc: dict) -> list[tuple[str, dict | None, list[dict]]]:
    """(where, pod securityContext or None, containers) of every pod an object creates."""
    kind, spec = doc["kind"], doc.get("spec", {})
    where = f"{kind}/{doc['metadata']['name']}"
    if kind == "Pod":
        return [(where, spec.get("securityContext"), spec["containers"] + spec.get("initContainers", []))]
    if kind in ("Deployment", "StatefulSet", "Job", "DaemonSet"):
        pod = spec["template"]["spec"]
        return [(where, pod.get("securityContext"), pod["containers"] + pod.get("initContainers", []))]
    if kind == "ServingRuntime":  # no pod securityContext field: every container carries it
        return [(where, None, spec["containers"])]
    return []


def test_builtin_kinds_validate_strictly(all_renders):
    checked = 0
    for name, docs in all_renders.items():
        for doc in docs:
            if doc["apiVersion"].startswith(CUSTOM_GROUPS):
                continue
            try:
                kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                pytest.fail(f"{name}: {doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, e.path))}: {e.message}")
            checked += 1
    assert checked == 14 + 14 + 14 + 21  # default, eks, gke (14 built-in objects each), bundled (21)


def test_custom_resources_validate_against_the_crds(all_renders, shared_dir):
    crs = [d for docs in all_renders.values() for d in docs if d["apiVersion"].startswith(CUSTOM_GROUPS)]
    assert [d["kind"] for d in crs] == ["ServingRuntime"] * 4
    for doc in crs:
        validate_custom_resource(doc, shared_dir / "crds")


def test_every_pod_runs_restricted(all_renders):
    pods = 0
    for name, docs in all_renders.items():
        for doc in docs:
            for where, pod_ctx, containers in pod_specs(doc):
                pods += 1
                if pod_ctx is not None:
                    assert pod_ctx["runAsNonRoot"] is True, where
                    assert pod_ctx["runAsUser"] > 0, where
                    assert pod_ctx["seccompProfile"] == {"type": "RuntimeDefault"}, where
                for c in containers:
                    ctx, at = c["securityContext"], f"{name}: {where}/{c['name']}"
                    assert ctx["runAsNonRoot"] is True, at
                    assert ctx["readOnlyRootFilesystem"] is True, at
                    assert ctx["allowPrivilegeEscalation"] is False, at
                    assert ctx["capabilities"] == {"drop": ["ALL"]}, at
                    assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, at
                    for part in ("requests", "limits"):
                        assert {"cpu", "memory"} <= set(c["resources"][part]), f"{at}: {part}"
    assert pods == 4 + 4 + 4 + 7  # mlflow, runtime, test pod, db-upgrade job (+ postgres, object store, bucket job)


def test_pods_do_not_mount_service_account_tokens_they_do_not_use(all_renders):
    for docs in all_renders.values():
        for doc in docs:
            for where, pod_ctx, _ in pod_specs(doc):
                if pod_ctx is not None:
                    spec = doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]
                    assert spec["automountServiceAccountToken"] is False, where


def test_no_secret_value_in_any_rendered_manifest(all_renders):
    for name, docs in all_renders.items():
        assert find_embedded_secrets(docs) == [], name
    assert not any(d["kind"] == "Secret" for docs in all_renders.values() for d in docs)


def has_registry_host(image: str) -> bool:
    """Docker's rule: a first path segment with '.' or ':' (or 'localhost') is a registry host."""
    first, sep, _ = image.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def test_no_registry_host_in_chart_images(all_renders):
    for docs in all_renders.values():
        for doc in docs:
            for where, _, containers in pod_specs(doc):
                for c in containers:
                    assert not has_registry_host(c["image"]), f"{where}: {c['image']}"
    assert has_registry_host("registry.invalid/vrt-base:1") and has_registry_host("localhost:5000/x:1")
    assert not has_registry_host("chrislusf/seaweedfs:3.80") and not has_registry_host("vrt-base:0.1.0")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("mlflow.auth.adminPassword=hunter2", "at '/mlflow/auth': additional properties 'adminPassword' not allowed"),
        ("s3.endpoint=http://key:pw@store:9000", "at '/s3/endpoint': 'http://key:pw@store:9000' does not match pattern"),
        ("image.pullPolicy=Sometimes", "at '/image/pullPolicy'"),
        ("gpu.taint.effect=NoWay", "at '/gpu/taint/effect'"),
        ("mlflow.workers=0", "at '/mlflow/workers': minimum: got 0, want 1"),
        ("postgresql.image.tag=latest", "at '/postgresql/image/tag'"),
        ("mlflow.resources.limits=null", "at '/mlflow/resources': missing property 'limits'"),
        ("servingRuntime.name=Bad_Name", "at '/servingRuntime/name'"),
    ],
)
def test_schema_rejects_bad_values_with_a_clear_error(helm, setting, message):
    proc = run_helm(helm, "template", "vrt", str(CHART), "--set", setting)
    assert proc.returncode == 1
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert message in proc.stderr, proc.stderr


def test_chart_rules_beyond_the_schema_fail_clearly(helm):
    proc = run_helm(helm, "template", "vrt", str(CHART), "--set", "objectStore.enabled=true", "--set", "s3.credentials.existingSecret=")
    assert proc.returncode == 1
    assert "objectStore.enabled needs s3.credentials.existingSecret" in proc.stderr


def _leaf_paths(node, prefix=()):
    if isinstance(node, dict) and node:
        for k, v in node.items():
            yield from _leaf_paths(v, (*prefix, k))
    else:
        yield prefix


def _schema_at(schema: dict, root: dict, path: tuple) -> dict | None:
    for key in path:
        while "$ref" in schema:
            schema = root["definitions"][schema["$ref"].rsplit("/", 1)[1]]
        props = schema.get("properties", {})
        if key in props:
            schema = props[key]
        elif isinstance(schema.get("additionalProperties"), dict):
            schema = schema["additionalProperties"]
        else:
            return None
    return schema


def test_schema_describes_every_value():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    schema = json.loads((CHART / "values.schema.json").read_text())
    leaves = list(_leaf_paths(values))
    assert len(leaves) == 98
    undocumented = [".".join(p) for p in leaves if _schema_at(schema, schema, p) is None]
    assert undocumented == []
    assert sorted(schema["properties"]) == sorted(values)
