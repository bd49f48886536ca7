#!/usr/bin/env bash
# Create the GKE GPU node pool that charts/vrt-platform/examples/values-gke-gpu.yaml targets.
# The pool carries the platform's one GPU label vrt.dev/gpu-pool=true (charts/vrt-platform/values.yaml
# `gpu`, the presets' `gpu` sections) and the taint nvidia.com/gpu=present:NoSchedule (GKE adds the
# same taint to GPU nodes itself); the NVIDIA GPU operator installs the driver
# (gpu-driver-version=disabled, Ubuntu node image).
#
#   CLUSTER=my-cluster REGION=europe-west4 bash infra/bootstrap/node-pools/gke-gpu-pool.sh
set -euo pipefail

: "${CLUSTER:?set CLUSTER to the GKE cluster name}"
: "${REGION:?set REGION, e.g. europe-west4}"

gcloud container node-pools create vrt-gpu \
  --cluster="$CLUSTER" \
  --region="$REGION" \
  --machine-type=g2-standard-16 \
  --accelerator=type=nvidia-l4,count=1,gpu-driver-version=disabled \
  --image-type=UBUNTU_CONTAINERD \
  --node-labels=vrt.dev/gpu-pool=true \
  --node-taints=nvidia.com/gpu=present:NoSchedule \
  --enable-autoscaling --min-nodes=0 --max-nodes=4 \
  --num-nodes=0
