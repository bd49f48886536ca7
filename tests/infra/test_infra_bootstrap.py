"""infra/bootstrap: pinned versions agree with pyproject.toml, and the GPU node pools carry exactly
the labels and taints the chart's example values expect."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BOOT = ROOT / "infra" / "bootstrap"
EXAMPLES = ROOT / "charts" / "vrt-platform" / "examples"


def versions() -> dict[str, str]:
    pairs = [line.split("=", 1) for line in (BOOT / "versions.env").read_text().splitlines() if "=" in line and not line.startswith("#")]
    return dict(pairs)


def sdk_pin(package: str) -> str:
    deps = [d for extra in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"].values() for d in extra]
    return next(d.split("==")[1] for d in deps if d.startswith(f"{package}=="))


def test_versions_match_the_sdk_pins():
    v = versions()
    assert sorted(v) == ["CERT_MANAGER_VERSION", "GPU_OPERATOR_VERSION", "KFP_VERSION", "KSERVE_VERSION", "KUBERAY_VERSION"]
    assert v["KFP_VERSION"] == sdk_pin("kfp") == "2.17.0"
    assert v["KSERVE_VERSION"] == f"v{sdk_pin('kserve')}" == "v0.21.0"


def test_kuberay_version_is_the_line_of_the_shared_crds(shared_dir):
    readme = (shared_dir / "crds" / "README.md").read_text()
    line = re.search(r"KubeRay \(v(\d+\.\d+) line\)", readme).group(1)
    assert versions()["KUBERAY_VERSION"].startswith(f"{line}.")


def test_scripts_parse_and_list_every_step():
    for script in (BOOT / "install.sh", BOOT / "node-pools" / "gke-gpu-pool.sh", ROOT / "infra" / "images" / "build.sh"):
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{script}: {proc.stderr}"
    text = (BOOT / "install.sh").read_text()
    assert 'STEPS="${STEPS:-cert-manager kserve kuberay kfp gpu-operator vrt}"' in text
    assert "kubectl apply -k \"${src}/env/platform-agnostic?ref=${KFP_VERSION}\"" in text


def _run_install(tmp_path: Path, steps: str, *args: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """install.sh with recording stand-ins for kubectl and helm; returns the commands they got."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir(exist_ok=True)
    calls = tmp_path / "calls"
    for tool in ("kubectl", "helm"):
        (fake_bin / tool).write_text(f"#!/bin/sh\necho \"{tool} $*\" >> \"{calls}\"\n")
        (fake_bin / tool).chmod(0o755)
    env = {"PATH": f"{fake_bin}:/usr/bin:/bin", "STEPS": steps}
    proc = subprocess.run(["bash", str(BOOT / "install.sh"), *args], capture_output=True, text=True, env=env, check=False)
    return proc, calls.read_text().splitlines() if calls.exists() else []


def test_unknown_step_is_refused_before_touching_the_cluster(tmp_path):
    proc, calls = _run_install(tmp_path, "kuberay nope")
    assert proc.returncode == 2
    assert "unknown step 'nope' (known: cert-manager kserve kuberay kfp gpu-operator vrt)" in proc.stderr
    assert calls == []


def test_steps_issue_the_pinned_commands(tmp_path):
    proc, calls = _run_install(tmp_path, "kuberay vrt", "-f", "values.yaml")
    assert proc.returncode == 0, proc.stderr
    chart = ROOT / "charts" / "vrt-platform"
    assert calls[:2] == [
        "helm repo add kuberay https://ray-project.github.io/kuberay-helm/ --force-update",
        ("helm upgrade --install kuberay-operator kuberay/kuberay-operator --version 1.7.0 "
         "--namespace kuberay-system --create-namespace --wait"),
    ]
    # the two sides of `kubectl create --dry-run | kubectl apply` run concurrently
    assert sorted(calls[2:4]) == ["kubectl apply -f -", "kubectl create namespace kubeflow --dry-run=client -o yaml"]
    assert calls[4:] == [
        f"helm upgrade --install vrt {chart} --namespace kubeflow -f values.yaml",
        "helm test vrt --namespace kubeflow --timeout 5m",
    ]


def test_eks_node_group_matches_the_eks_example_values():
    gpu = yaml.safe_load((EXAMPLES / "values-eks-gpu.yaml").read_text())["gpu"]
    group = yaml.safe_load((BOOT / "node-pools" / "eks-gpu-nodegroup.yaml").read_text())["managedNodeGroups"][0]
    assert group["labels"] == {gpu["nodeLabel"]["key"]: gpu["nodeLabel"]["value"]}
    assert group["taints"] == [gpu["taint"]]


def test_gke_node_pool_matches_the_gke_example_values():
    gpu = yaml.safe_load((EXAMPLES / "values-gke-gpu.yaml").read_text())["gpu"]
    script = (BOOT / "node-pools" / "gke-gpu-pool.sh").read_text()
    label = re.search(r"--node-labels=(\S+)", script).group(1)
    taint = re.search(r"--node-taints=(\S+)", script).group(1)
    assert label == f"{gpu['nodeLabel']['key']}={gpu['nodeLabel']['value']}"
    assert taint == f"{gpu['taint']['key']}={gpu['taint']['value']}:{gpu['taint']['effect']}"


def test_no_container_registry_host_is_named_in_infra_or_chart():
    hosts = re.compile(r"\b(docker\.io|ghcr\.io|gcr\.io|quay\.io|nvcr\.io|registry\.k8s\.io|public\.ecr\.aws|[a-z0-9-]+\.pkg\.dev|[0-9]+\.dkr\.ecr\.)")
    files = [p for d in (ROOT / "infra", ROOT / "charts") for p in d.rglob("*") if p.is_file()]
    assert len(files) > 20
    offenders = [str(p.relative_to(ROOT)) for p in files if hosts.search(p.read_text(errors="ignore"))]
    assert offenders == []
