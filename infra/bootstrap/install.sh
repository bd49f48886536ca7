#!/usr/bin/env bash
# Install the cluster services the VRT platform runs on, in dependency order, then the chart:
#   1. cert-manager          (KServe's webhooks need certificates)
#   2. KServe                (InferenceService, ServingRuntime; RawDeployment mode, no Knative)
#   3. KubeRay operator      (RayJob, RayCluster)
#   4. Kubeflow Pipelines    (kustomize manifests, platform-agnostic, single-user)
#   5. NVIDIA GPU operator   (drivers, device plugin, DCGM on the GPU node pool)
#   6. charts/vrt-platform   (MLflow, RBAC, ServingRuntime, platform ConfigMap)
#
#   bash infra/bootstrap/install.sh -f charts/vrt-platform/examples/values-gke-gpu.yaml
#   STEPS="kuberay kfp" bash infra/bootstrap/install.sh        # only some steps
#
# Needs kubectl (>= 1.27) and helm (v3/v4) pointed at the cluster; every step is idempotent.
# Create the Secrets the chart reads before step 6 (see charts/vrt-platform/README.md).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"
STEPS="${STEPS:-cert-manager kserve kuberay kfp gpu-operator vrt}"
# The chart goes where KFP runs the pipeline's pods (its ServiceAccount and Role must be there):
# `kubeflow` for the single-user install below; the profile namespace for multi-user KFP.
VRT_NAMESPACE="${VRT_NAMESPACE:-kubeflow}"
GPU_DRIVER_ENABLED="${GPU_DRIVER_ENABLED:-true}"   # false where the node image ships the driver (EKS GPU AMIs)

KNOWN="cert-manager kserve kuberay kfp gpu-operator vrt"
for step in $STEPS; do
  case " $KNOWN " in
    *" $step "*) ;;
    *) echo "install.sh: unknown step '$step' (known: $KNOWN)" >&2; exit 2 ;;
  esac
done
for tool in kubectl helm; do
  command -v "$tool" >/dev/null || { echo "install.sh: $tool is needed on PATH" >&2; exit 1; }
done

step_cert_manager() {
  kubectl apply --server-side -f "https://github.com/cert-manager/cert-manager/releases/download/${CERT_MANAGER_VERSION}/cert-manager.yaml"
  kubectl -n cert-manager rollout status deployment/cert-manager-webhook --timeout=300s
}

step_kserve() {
  local base="https://github.com/kserve/kserve/releases/download/${KSERVE_VERSION}"
  kubectl apply --server-side -f "$base/kserve.yaml"
  kubectl -n kserve rollout status deployment/kserve-controller-manager --timeout=300s
  kubectl apply --server-side -f "$base/kserve-cluster-resources.yaml"
  # Plain Deployments + Services for predictors (no Knative / Istio needed).
  kubectl -n kserve patch configmap/inferenceservice-config --type=merge \
    -p '{"data":{"deploy":"{\"defaultDeploymentMode\":\"RawDeployment\"}"}}'
}

step_kuberay() {
  helm repo add kuberay https://ray-project.github.io/kuberay-helm/ --force-update >/dev/null
  helm upgrade --install kuberay-operator kuberay/kuberay-operator --version "${KUBERAY_VERSION}" \
    --namespace kuberay-system --create-namespace --wait
}

step_kfp() {
  local src="github.com/kubeflow/pipelines/manifests/kustomize"
  kubectl apply -k "${src}/cluster-scoped-resources?ref=${KFP_VERSION}"
  kubectl wait --for condition=established --timeout=120s crd/applications.app.k8s.io
  kubectl apply -k "${src}/env/platform-agnostic?ref=${KFP_VERSION}"
  kubectl -n kubeflow rollout status deployment/ml-pipeline --timeout=600s
}

step_gpu_operator() {
  helm repo add nvidia https://helm.ngc.nvidia.com/nvidia --force-update >/dev/null
  helm upgrade --install gpu-operator nvidia/gpu-operator --version "${GPU_OPERATOR_VERSION}" \
    --namespace gpu-operator --create-namespace --wait --set "driver.enabled=${GPU_DRIVER_ENABLED}"
}

step_vrt() {
  kubectl create namespace "$VRT_NAMESPACE" --dry-run=client -o yaml | kubectl apply -f -
  helm upgrade --install vrt "$ROOT/charts/vrt-platform" --namespace "$VRT_NAMESPACE" "$@"
  helm test vrt --namespace "$VRT_NAMESPACE" --timeout 5m
}

for step in $STEPS; do
  echo "== $step" >&2
  case "$step" in
    cert-manager) step_cert_manager ;;
    kserve) step_kserve ;;
    kuberay) step_kuberay ;;
    kfp) step_kfp ;;
    gpu-operator) step_gpu_operator ;;
    vrt) step_vrt "$@" ;;
  esac
done
