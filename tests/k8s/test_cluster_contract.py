"""The cluster contract: what the chart installs is what the compiled pipeline and the workloads its
steps create expect. For the chart's defaults and every example values file: render the chart,
compile the `4b` pipeline, build a RayJob and an InferenceService as the steps would (from the pod
environment the pipeline gives them), then cross-check namespaces, service accounts, environment
variables, Secret/ConfigMap references and the GPU pool's label and taint."""

from __future__ import annotations

import re
import subprocess
import types
from pathlib import Path

import pytest
import yaml

from components.deploy.isvc import inference_service
from components.deploy.step import platform_deploy_config
from components.placement import gpu_overrides
from components.sft.config import load_train_config
from components.sft.launch import rayjob_manifest
from pipelines.compile import compile_pipeline
from pipelines.submit import DEFAULT_SERVICE_ACCOUNT
from vrt.k8s import platform
from vrt.k8s.crds import validate_custom_resource

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "vrt-platform"
VALUES = [None, *sorted((CHART / "examples").glob("*.yaml"))]
HELM = ROOT / ".tools" / "bin" / "helm"
NAMESPACE = "kubeflow"  # the namespace KFP runs the pipeline's pods in (single-user KFP)
# Read from the environment by libraries, not by our code: the AWS SDK (S3 keys, region) and MLflow (login).
LIBRARY_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "MLFLOW_TRACKING_USERNAME",
               "MLFLOW_TRACKING_PASSWORD"}
# Variables our code reads that the chart does not supply, and why that is right on a cluster.
NOT_FROM_CHART = {
    "KUBERNETES_SERVICE_HOST": "set by the kubelet in every pod",
    "KUBECONFIG": "the CLI's kubeconfig on a laptop (pods use in-cluster config)",
    "VRT_PARENT_RUN_ID": "set by the local runner only; on a cluster lineage is the pipeline_run_id parameter",
    "VRT_EXPERIMENT": "optional override of the experiment name (default vrt)",
    "RAY_ADDRESS": "set by Ray for a RayJob's entrypoint (the dataset step's --executor ray driver)",
    "HF_ENDPOINT": "optional Hub mirror for hf:// sources (vrt/data/remote.py); unset: the Hub itself",
    **{k: "set by torchrun for `--launcher none` (components/sft/worker.py); not used by the pipeline's steps"
       for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")},
}
ENV_READ = re.compile(r"""(?:environ\.get|environ\[|getenv)\(?\s*["']([A-Z0-9_]+)["']""")
GPU_STEPS = ("exec-sft", "exec-grpo", "exec-predict", "exec-predict-2")


@pytest.fixture(scope="module")
def helm() -> Path:
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "get-helm.sh")], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not HELM.exists():
        pytest.skip(f"helm unavailable: scripts/get-helm.sh failed: {proc.stderr.strip()[-300:]}")
    return HELM


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> tuple[dict, dict]:
    path = compile_pipeline("4b", tmp_path_factory.mktemp("p") / "4b.yaml")
    spec, platform_spec = list(yaml.safe_load_all(path.read_text()))
    return spec, platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]


@pytest.fixture(scope="module", params=VALUES, ids=lambda v: "default" if v is None else v.stem)
def chart(request, helm) -> dict:
    """The rendered chart, by kind and name."""
    args = [str(helm), "template", "vrt", str(CHART), "--namespace", NAMESPACE]
    if request.param is not None:
        args += ["-f", str(request.param)]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    out: dict = {}
    for doc in yaml.safe_load_all(proc.stdout):
        if doc:
            out.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    out["values"] = yaml.safe_load(request.param.read_text()) if request.param else {}
    return out


def pod_env(executor: dict, chart: dict, secrets_present: bool = True) -> dict[str, str]:
    """The environment the kubelet gives a step's pod: ConfigMap keys, Secret keys (when the Secret
    exists in this install), the downward-API namespace, and KUBERNETES_SERVICE_HOST."""
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    for ref in executor.get("configMapAsEnv", []):
        data = chart["ConfigMap"][ref["configMapName"]]["data"]  # KeyError: the chart creates no such ConfigMap
        for item in ref["keyToEnv"]:
            env[item["envVar"]] = data[item["configMapKey"]]  # KeyError: the ConfigMap lacks the key
    declared = {v for k, v in env.items() if k.endswith("_SECRET_NAME") and v}
    for ref in executor.get("secretAsEnv", []):
        if ref["secretName"] in declared and secrets_present:
            env |= {item["envVar"]: f"<{ref['secretName']}/{item['secretKey']}>" for item in ref["keyToEnv"]}
    for ref in executor.get("fieldPathAsEnv", []):
        assert ref["fieldPath"] == "metadata.namespace"
        env[ref["name"]] = NAMESPACE
    return env


def task_config(spec: dict, k8s: dict, name: str) -> types.SimpleNamespace:
    """The TaskConfig KFP hands a passthrough component: the task's accelerator, node selector, tolerations."""
    acc = spec["deploymentSpec"]["executors"][name]["container"]["resources"]["accelerator"]
    return types.SimpleNamespace(
        resources={"limits": {acc["resourceType"]: acc["resourceCount"]}},
        node_selector=k8s[name]["nodeSelector"]["labels"],
        tolerations=k8s[name]["tolerations"],
    )


def build_rayjob(spec: dict, k8s: dict, chart: dict, monkeypatch) -> dict:
    """The sft step's RayJob, built from its pod environment the way components/sft/component.py does."""
    for key, value in pod_env(k8s["exec-sft"], chart).items():
        monkeypatch.setenv(key, value)
    platform.check_step_env()
    wired = ["sft.output=s3://b/sft", *platform.rayjob_overrides("sft"), *gpu_overrides(task_config(spec, k8s, "exec-sft"))]
    from components.images import image

    return rayjob_manifest(load_train_config("4b", [*wired, "sft.dataset=s3://b/data"]), image("vrt-train"), "sft-4b-x")


def build_isvc(k8s: dict, chart: dict, monkeypatch) -> dict:
    for key, value in pod_env(k8s["exec-deploy"], chart).items():
        monkeypatch.setenv(key, value)
    return inference_service(platform_deploy_config("vrt-4b", "models:/vrt-4b/3", gpus=1))


def chart_gpu(chart: dict) -> tuple[dict, list]:
    data = chart["ConfigMap"]["vrt-platform"]["data"]
    toleration = {"key": data["VRT_GPU_TAINT_KEY"], "operator": "Equal", "value": data["VRT_GPU_TAINT_VALUE"],
                  "effect": data["VRT_GPU_TAINT_EFFECT"]}
    return {data["VRT_GPU_NODE_LABEL_KEY"]: data["VRT_GPU_NODE_LABEL_VALUE"]}, [toleration]


def test_every_step_gets_the_platform_env_and_it_exists_in_the_chart(compiled, chart):
    spec, k8s = compiled
    assert sorted(k8s) == sorted(spec["deploymentSpec"]["executors"])  # every step is wired
    for name, executor in k8s.items():
        env = pod_env(executor, chart)
        assert set(platform.CONFIG_KEYS) <= set(env), name
        assert env["MLFLOW_TRACKING_URI"].startswith("http://vrt-vrt-platform-mlflow.kubeflow.svc"), name
        assert env[platform.NAMESPACE_ENV] == NAMESPACE
        for secret in platform.SECRETS:
            [ref] = [r for r in executor["secretAsEnv"] if r["secretName"] == secret.name]
            assert {(i["secretKey"], i["envVar"]) for i in ref["keyToEnv"]} == {(k, k) for k in secret.keys}
    # no dead keys: every key of the chart's ConfigMap reaches the steps
    assert set(chart["ConfigMap"]["vrt-platform"]["data"]) == set(platform.CONFIG_KEYS)


def test_every_env_var_the_code_reads_is_supplied_on_a_cluster(compiled):
    _, _k8s = compiled
    supplied = set(platform.CONFIG_KEYS) | {k for s in platform.SECRETS for k in s.keys} | {platform.NAMESPACE_ENV}
    read = set()
    for folder in ("components", "vrt", "evaluation", "models", "pipelines"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name != "local.py" or folder != "pipelines":  # the local runner is not a step
                read |= set(ENV_READ.findall(path.read_text()))
    # read through constants: the Secret-name keys (check_step_env) and the namespace (platform.namespace,
    # whose effect test_rayjob_and_isvc_land_where_the_chart_installed_the_rbac checks)
    read |= {s.name_env for s in platform.SECRETS} | {platform.NAMESPACE_ENV}
    assert read - supplied - set(NOT_FROM_CHART) == set()
    # and nothing is supplied that nobody reads
    assert supplied - read - LIBRARY_ENV == set()


def test_missing_settings_fail_the_step_with_what_to_create(compiled, chart, monkeypatch):
    _, k8s = compiled
    env = pod_env(k8s["exec-register"], chart, secrets_present=False)
    for secret in platform.SECRETS:  # whatever an earlier test (a moto S3 server, say) left in this process
        for key in secret.keys:
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    declared = platform.secret_names()
    if declared:
        with pytest.raises(Exception, match=f"create Secret {declared[0]} with keys"):
            platform.check_step_env()
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    with pytest.raises(Exception, match="MLFLOW_TRACKING_URI is not set in this pod: .*ConfigMap vrt-platform"):
        from vrt.tracking import tracking_uri

        tracking_uri()


def test_rayjob_and_isvc_land_where_the_chart_installed_the_rbac(compiled, chart, monkeypatch, shared_dir):
    spec, k8s = compiled
    rayjob = build_rayjob(spec, k8s, chart, monkeypatch)
    isvc = build_isvc(k8s, chart, monkeypatch)
    validate_custom_resource(rayjob, shared_dir / "crds")
    validate_custom_resource(isvc, shared_dir / "crds")
    [role] = chart["Role"].values()
    [binding] = chart["RoleBinding"].values()
    assert rayjob["metadata"]["namespace"] == isvc["metadata"]["namespace"] == role["metadata"]["namespace"] == NAMESPACE
    runner = binding["subjects"][0]
    assert (runner["name"], runner["namespace"]) == (DEFAULT_SERVICE_ACCOUNT, NAMESPACE)  # `vrt pipeline submit`
    verbs = {r["resources"][0]: set(r["verbs"]) for r in role["rules"]}
    assert {"create", "get", "delete"} <= verbs["rayjobs"] and {"create", "get", "update"} <= verbs["inferenceservices"]
    accounts = chart["ServiceAccount"]
    cluster = rayjob["spec"]["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"]["spec"], *(g["template"]["spec"] for g in cluster["workerGroupSpecs"])]
    for pod in pods:
        assert pod["serviceAccountName"] == DEFAULT_SERVICE_ACCOUNT and DEFAULT_SERVICE_ACCOUNT in accounts
    predictor = isvc["spec"]["predictor"]
    assert predictor["serviceAccountName"] in accounts
    assert accounts[predictor["serviceAccountName"]]["automountServiceAccountToken"] is False
    assert predictor["labels"] == chart["NetworkPolicy"]["vrt-vrt-platform-predictor"]["spec"]["podSelector"]["matchLabels"]


def test_workloads_get_the_settings_and_secrets_the_install_has(compiled, chart, monkeypatch):
    spec, k8s = compiled
    rayjob = build_rayjob(spec, k8s, chart, monkeypatch)
    data = chart["ConfigMap"]["vrt-platform"]["data"]
    declared = [data[s.name_env] for s in platform.SECRETS if data[s.name_env]]
    for group in [rayjob["spec"]["rayClusterSpec"]["headGroupSpec"], *rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"]]:
        [container] = group["template"]["spec"]["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["MLFLOW_TRACKING_URI"] == data["MLFLOW_TRACKING_URI"]
        assert env["AWS_DEFAULT_REGION"] == data["AWS_DEFAULT_REGION"]
        assert env.get("AWS_ENDPOINT_URL", "") == data["AWS_ENDPOINT_URL"]
        assert [e["secretRef"]["name"] for e in container.get("envFrom", [])] == declared
        assert container["image"].endswith(f"vrt-train:{data['VRT_IMAGE_TAG']}")
    isvc = build_isvc(k8s, chart, monkeypatch)
    [container] = isvc["spec"]["predictor"]["containers"]
    assert {"name": "MLFLOW_TRACKING_URI", "value": data["MLFLOW_TRACKING_URI"]} in container["env"]
    assert [e["secretRef"]["name"] for e in container.get("envFrom", [])] == declared


def test_one_gpu_pool_everywhere(compiled, chart, monkeypatch):
    spec, k8s = compiled
    selector, tolerations = chart_gpu(chart)
    for name in GPU_STEPS:  # the compiled pipeline (from the preset)
        assert k8s[name]["nodeSelector"]["labels"] == selector, name
        assert k8s[name]["tolerations"] == tolerations, name
    for group in build_rayjob(spec, k8s, chart, monkeypatch)["spec"]["rayClusterSpec"]["workerGroupSpecs"]:
        assert (group["template"]["spec"]["nodeSelector"], group["template"]["spec"]["tolerations"]) == (selector, tolerations)
    predictor = build_isvc(k8s, chart, monkeypatch)["spec"]["predictor"]
    assert (predictor["nodeSelector"], predictor["tolerations"]) == (selector, tolerations)
    runtime = chart["ServingRuntime"]["vrt-predictor"]["spec"]
    assert (runtime["nodeSelector"], runtime["tolerations"]) == (selector, tolerations)
    pool = yaml.safe_load((ROOT / "infra/bootstrap/node-pools/eks-gpu-nodegroup.yaml").read_text())["managedNodeGroups"][0]
    assert pool["labels"] == selector
    assert [dict(t, operator="Equal") for t in pool["taints"]] == tolerations
    script = (ROOT / "infra/bootstrap/node-pools/gke-gpu-pool.sh").read_text()
    (key, value), t = selector.popitem(), tolerations[0]
    assert f"--node-labels={key}={value} " in script and f"--node-taints={t['key']}={t['value']}:{t['effect']} " in script
    for preset in ("2b", "4b", "8b"):
        gpu = load_train_config(preset).gpu
        assert ({key: value}, gpu.tolerations) == (dict(gpu.node_selector), tolerations), preset


def secret_refs(node, found: set) -> set:
    """Names of Secrets referenced anywhere in a manifest (secretKeyRef, secretRef, secret volumes)."""
    if isinstance(node, dict):
        for key in ("secretKeyRef", "secretRef"):
            if isinstance(node.get(key), dict):
                found.add(node[key]["name"])
        if isinstance(node.get("secret"), dict) and "secretName" in node["secret"]:
            found.add(node["secret"]["secretName"])
        for value in node.values():
            secret_refs(value, found)
    elif isinstance(node, list):
        for item in node:
            secret_refs(item, found)
    return found


def test_every_secret_referenced_is_documented_with_its_command(compiled, chart, monkeypatch):
    spec, k8s = compiled
    names = secret_refs([d for kind, docs in chart.items() if kind != "values" for d in docs.values()], set())
    names |= {r["secretName"] for e in k8s.values() for r in e.get("secretAsEnv", [])}
    names |= secret_refs([build_rayjob(spec, k8s, chart, monkeypatch), build_isvc(k8s, chart, monkeypatch)], set())
    assert not chart.get("Secret"), "the chart must not create Secrets"
    chart_readme = (CHART / "README.md").read_text()
    readme = (ROOT / "README.md").read_text()
    cluster_section = readme[readme.index("## On a cluster"):readme.index("## Tests, CI")]
    for name in names:
        assert re.search(rf"^\| `{re.escape(name)}` \|", chart_readme, re.MULTILINE), f"{name} missing in the chart README table"
        assert f"create secret generic {name} " in cluster_section, f"README's cluster section lacks the command for {name}"


def test_dataset_rayjob_follows_the_same_contract(compiled, chart, monkeypatch, shared_dir):
    """The dataset step's conversion RayJob (runtime kubernetes) lands in the pipeline's namespace, runs as
    the runner ServiceAccount and gets the install's settings and Secrets, like the training RayJobs."""
    from components.dataset.launch import ClusterSettings
    from components.dataset.launch import rayjob_manifest as dataset_rayjob
    from vrt.data.prepare import PrepareConfig

    _spec, k8s = compiled
    for key, value in pod_env(k8s["exec-prepare-dataset"], chart).items():
        monkeypatch.setenv(key, value)
    platform.check_step_env()
    rayjob = dataset_rayjob(PrepareConfig("vrt-80k", "s3://raw/x", "s3://b/ds"), ClusterSettings(), "prepare-x")
    validate_custom_resource(rayjob, shared_dir / "crds")
    assert rayjob["metadata"]["namespace"] == NAMESPACE
    data = chart["ConfigMap"]["vrt-platform"]["data"]
    declared = [data[s.name_env] for s in platform.SECRETS if data[s.name_env]]
    cluster = rayjob["spec"]["rayClusterSpec"]
    for group in [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]:
        assert group["template"]["spec"]["serviceAccountName"] == DEFAULT_SERVICE_ACCOUNT
        [container] = group["template"]["spec"]["containers"]
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["MLFLOW_TRACKING_URI"] == data["MLFLOW_TRACKING_URI"]
        assert [e["secretRef"]["name"] for e in container.get("envFrom", [])] == declared
