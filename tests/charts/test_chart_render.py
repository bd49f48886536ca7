"""`helm lint` and `helm template` of charts/vrt-platform: objects, labels, RBAC, config, MLflow wiring."""

from __future__ import annotations

from collections import Counter

import pytest
from helmutil import CHART, EXAMPLES, run_helm

VALUES_FILES = [None, *EXAMPLES]
RECOMMENDED = ("name", "instance", "version", "component", "part-of", "managed-by")


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def env_of(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


@pytest.mark.parametrize("values_file", VALUES_FILES, ids=lambda f: "default" if f is None else f.stem)
def test_helm_lint_is_clean(helm, values_file):
    args = ["lint", "--strict", str(CHART)] + ([] if values_file is None else ["-f", str(values_file)])
    proc = run_helm(helm, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


def test_example_values_files_exist():
    assert sorted(f.name for f in EXAMPLES) == ["values-bundled.yaml", "values-eks-gpu.yaml", "values-gke-gpu.yaml"]


def test_default_render_has_exactly_these_objects(render):
    kinds = Counter(d["kind"] for d in render())
    assert kinds == {
        "ConfigMap": 2, "Deployment": 1, "Service": 1, "ServiceAccount": 3, "Role": 1, "RoleBinding": 1,
        "NetworkPolicy": 2, "ServingRuntime": 1, "Pod": 1, "PodDisruptionBudget": 1, "Job": 1,
    }


def test_bundled_render_adds_postgres_and_object_store(render):
    docs = render(CHART / "examples" / "values-bundled.yaml")
    kinds = Counter(d["kind"] for d in docs)
    assert kinds["StatefulSet"] == 2 and kinds["Service"] == 3 and kinds["NetworkPolicy"] == 4 and kinds["Job"] == 2
    assert sorted(by_kind(docs, "StatefulSet")) == ["vrt-vrt-platform-objectstore", "vrt-vrt-platform-postgresql"]


def test_every_object_has_the_recommended_labels(all_renders):
    for name, docs in all_renders.items():
        for d in docs:
            labels = d["metadata"]["labels"]
            missing = [k for k in RECOMMENDED if f"app.kubernetes.io/{k}" not in labels]
            assert not missing, f"{name}: {d['kind']}/{d['metadata']['name']} lacks {missing}"
            assert labels["app.kubernetes.io/part-of"] == "vrt-platform"
            assert labels["app.kubernetes.io/managed-by"] == "Helm"
            assert labels["app.kubernetes.io/version"] == "0.1.0"


def test_role_grants_only_what_the_steps_use(render):
    role = by_kind(render(), "Role")["vrt-pipeline-runner"]
    crud = ["create", "get", "list", "watch", "delete"]
    assert role["rules"] == [
        {"apiGroups": ["ray.io"], "resources": ["rayjobs"], "verbs": crud},
        {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"], "verbs": [*crud, "update"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    ]
    binding = by_kind(render(), "RoleBinding")["vrt-pipeline-runner"]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "vrt-pipeline-runner"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "vrt-pipeline-runner", "namespace": "vrt"}]
    assert "vrt-pipeline-runner" in by_kind(render(), "ServiceAccount")


def test_platform_configmap_for_gke(render):
    data = by_kind(render(CHART / "examples" / "values-gke-gpu.yaml"), "ConfigMap")["vrt-platform"]["data"]
    assert data == {
        "MLFLOW_TRACKING_URI": "http://vrt-vrt-platform-mlflow.vrt.svc.cluster.local:5000",
        "VRT_MLFLOW_AUTH": "true",
        "VRT_MLFLOW_CLIENT_SECRET_NAME": "vrt-mlflow-client",
        "AWS_ENDPOINT_URL": "https://storage.googleapis.com",
        "AWS_DEFAULT_REGION": "auto",
        "VRT_S3_CREDENTIALS_SECRET_NAME": "vrt-s3-credentials",
        "VRT_IMAGE_REGISTRY": "",
        "VRT_IMAGE_TAG": "0.1.0",
        "VRT_SERVICE_ACCOUNT": "vrt-pipeline-runner",
        "VRT_PREDICTOR_SERVICE_ACCOUNT": "vrt-predictor",
        "VRT_GPU_NODE_LABEL_KEY": "vrt.dev/gpu-pool",
        "VRT_GPU_NODE_LABEL_VALUE": "true",
        "VRT_GPU_TAINT_KEY": "nvidia.com/gpu",
        "VRT_GPU_TAINT_VALUE": "present",
        "VRT_GPU_TAINT_EFFECT": "NoSchedule",
    }


def test_image_registry_prefixes_every_project_image(render):
    docs = render(None, "image.registry=registry.invalid:5000/team", "image.tag=9.9.9")
    images = sorted(
        c["image"]
        for d in docs
        for c in ((d.get("spec", {}).get("template", {}).get("spec") or d.get("spec", {})).get("containers") or [])
    )
    assert images == [
        "registry.invalid:5000/team/vrt-base:9.9.9",
        "registry.invalid:5000/team/vrt-base:9.9.9",
        "registry.invalid:5000/team/vrt-base:9.9.9",
        "registry.invalid:5000/team/vrt-serve:9.9.9",
    ]
    data = by_kind(docs, "ConfigMap")["vrt-platform"]["data"]
    # the steps build vrt-train:<tag> under the same registry (components/images.py)
    assert (data["VRT_IMAGE_REGISTRY"], data["VRT_IMAGE_TAG"]) == ("registry.invalid:5000/team", "9.9.9")


def test_mlflow_server_wiring_with_external_postgres(render):
    dep = by_kind(render(), "Deployment")["vrt-vrt-platform-mlflow"]
    c = dep["spec"]["template"]["spec"]["containers"][0]
    svc = "vrt-vrt-platform-mlflow"
    hosts = ["localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*"]
    for h in (svc, f"{svc}.vrt", f"{svc}.vrt.svc", f"{svc}.vrt.svc.cluster.local"):
        hosts += [h, f"{h}:5000"]
    assert c["args"] == [
        "--host=0.0.0.0", "--port=5000", "--workers=2", "--serve-artifacts",
        "--artifacts-destination=s3://vrt/mlflow", "--allowed-hosts=" + ",".join(hosts),
    ]
    env = env_of(c)
    assert env["MLFLOW_AUTH_ENABLED"]["value"] == "true"
    assert env["MLFLOW_AUTH_ADMIN_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "vrt-mlflow-admin", "key": "password"}}
    assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"] == {"secretKeyRef": {"name": "vrt-mlflow-db", "key": "uri"}}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "vrt-s3-credentials", "key": "AWS_SECRET_ACCESS_KEY"}
    }
    assert "MLFLOW_S3_ENDPOINT_URL" not in env and "PGPASSWORD" not in env


def test_mlflow_with_bundled_stores_has_no_password_in_its_uri(render):
    docs = render(CHART / "examples" / "values-bundled.yaml")
    env = env_of(by_kind(docs, "Deployment")["vrt-vrt-platform-mlflow"]["spec"]["template"]["spec"]["containers"][0])
    assert env["MLFLOW_BACKEND_STORE_URI"]["value"] == "postgresql://mlflow@vrt-vrt-platform-postgresql:5432/mlflow"
    assert env["PGPASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "vrt-postgresql", "key": "password"}}
    assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == "http://vrt-vrt-platform-objectstore.vrt.svc.cluster.local:8333"


def test_auth_disabled_drops_the_admin_env(render):
    c = by_kind(render(None, "mlflow.auth.enabled=false"), "Deployment")["vrt-vrt-platform-mlflow"]
    env = env_of(c["spec"]["template"]["spec"]["containers"][0])
    assert env["MLFLOW_AUTH_ENABLED"]["value"] == "false"
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" not in env


def test_eks_uses_workload_identity_without_a_key_pair(render):
    docs = render(CHART / "examples" / "values-eks-gpu.yaml")
    env = env_of(by_kind(docs, "Deployment")["vrt-vrt-platform-mlflow"]["spec"]["template"]["spec"]["containers"][0])
    assert "AWS_ACCESS_KEY_ID" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    role = "arn:aws:iam::111122223333:role/vrt-pipeline-runner"
    accounts = by_kind(docs, "ServiceAccount")
    assert sorted(accounts) == ["vrt-pipeline-runner", "vrt-predictor", "vrt-vrt-platform-mlflow"]
    for sa in accounts.values():
        assert sa["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": role}
    assert accounts["vrt-predictor"]["automountServiceAccountToken"] is False


def test_network_policies_limit_ingress(render):
    pols = by_kind(render(CHART / "examples" / "values-bundled.yaml"), "NetworkPolicy")
    mlflow = pols["vrt-vrt-platform-mlflow"]["spec"]
    assert mlflow["policyTypes"] == ["Ingress"]
    assert mlflow["ingress"] == [{
        "from": [{"podSelector": {}}, {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kubeflow"}}}],
        "ports": [{"port": 5000, "protocol": "TCP"}],
    }]
    pg = pols["vrt-vrt-platform-postgresql"]["spec"]
    assert pg["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "vrt-platform", "app.kubernetes.io/instance": "vrt", "app.kubernetes.io/component": "mlflow",
    }}}]
    assert pg["ingress"][0]["ports"] == [{"port": 5432, "protocol": "TCP"}]
    assert pols["vrt-vrt-platform-objectstore"]["spec"]["ingress"][0]["ports"] == [{"port": 8333, "protocol": "TCP"}]
    predictor = pols["vrt-vrt-platform-predictor"]["spec"]
    assert predictor["podSelector"] == {"matchLabels": {"vrt.io/role": "predictor"}}
    assert predictor["ingress"] == [{
        "from": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
             "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}}},
            {"podSelector": {"matchLabels": {"vrt.io/role": "deployer"}}},
        ],
        "ports": [{"port": 8080, "protocol": "TCP"}],
    }]


def test_mlflow_pdb_and_pre_upgrade_db_migration(render):
    docs = render()
    pdb = by_kind(docs, "PodDisruptionBudget")["vrt-vrt-platform-mlflow"]["spec"]
    mlflow = by_kind(docs, "Deployment")["vrt-vrt-platform-mlflow"]["spec"]
    assert pdb == {"minAvailable": 1, "selector": mlflow["selector"]}
    job = by_kind(docs, "Job")["vrt-vrt-platform-mlflow-db-upgrade"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"
    [c] = job["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["/bin/sh", "-c", 'exec mlflow db upgrade "$MLFLOW_BACKEND_STORE_URI"']
    # the same backend store as the server, from the same Secret
    server_env = env_of(mlflow["template"]["spec"]["containers"][0])
    assert env_of(c)["MLFLOW_BACKEND_STORE_URI"] == server_env["MLFLOW_BACKEND_STORE_URI"]
    assert "vrt-vrt-platform-mlflow-db-upgrade" not in by_kind(render(None, "mlflow.dbUpgrade.enabled=false"), "Job")


def test_helm_test_hook_checks_mlflow_health(render):
    pod = by_kind(render(), "Pod")["vrt-vrt-platform-test-mlflow"]
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    cmd = pod["spec"]["containers"][0]["command"]
    assert cmd[-1] == "http://vrt-vrt-platform-mlflow.vrt.svc.cluster.local:5000"
    assert '"/health"' in cmd[2] and 'body == "OK"' in cmd[2]


def test_serving_runtime_targets_the_gpu_pool(render):
    sr = by_kind(render(CHART / "examples" / "values-eks-gpu.yaml"), "ServingRuntime")["vrt-predictor"]["spec"]
    assert sr["supportedModelFormats"] == [{"name": "vrt", "version": "1", "autoSelect": True}]
    assert sr["protocolVersions"] == ["v1", "v2"]
    assert sr["nodeSelector"] == {"vrt.dev/gpu-pool": "true"}
    assert sr["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}]
    c = sr["containers"][0]
    assert c["image"] == "vrt-serve:0.1.0"
    assert c["command"] == ["python", "-m", "components.deploy.server"]
    assert c["args"] == ["--model_uri=/mnt/models", "--model_name={{.Name}}", "--host=0.0.0.0", "--http_port=8080"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1


def test_notes_name_the_secrets_to_create(helm):
    proc = run_helm(helm, "install", "vrt", str(CHART), "--dry-run=client", "--namespace", "vrt")
    assert proc.returncode == 0, proc.stderr
    notes = proc.stdout.split("NOTES:", 1)[1]
    assert "vrt-mlflow-admin / password: MLflow admin password (user admin)" in notes
    assert "vrt-mlflow-db / uri: PostgreSQL URI" in notes
    assert "helm test vrt -n vrt" in notes
