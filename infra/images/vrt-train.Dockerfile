# vrt-train: Ray Train + DeepSpeed SFT, GRPO with vLLM rollouts, GPU evaluation (KubeRay
# RayJob head and workers). CUDA 13 devel base: torch 2.14's wheels are built for CUDA 13 and
# DeepSpeed compiles its fused ops with nvcc at run time. Build from the repository root:
#   docker build -f infra/images/vrt-train.Dockerfile -t vrt-train:0.1.0 .
FROM nvidia/cuda:13.0.1-cudnn-devel-ubuntu22.04

ARG VRT_VERSION=0.1.0
LABEL org.opencontainers.image.title="vrt-train" \
      org.opencontainers.image.version="${VRT_VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 HOME=/tmp VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev build-essential ninja-build \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv \
    && groupadd --gid 10001 vrt && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin vrt

WORKDIR /opt/vrt
COPY pyproject.toml README.md ./
COPY infra/images/gpu-constraints.txt constraints/gpu.txt
COPY vrt/ vrt/
COPY components/ components/
COPY pipelines/ pipelines/
COPY models/ models/
COPY evaluation/ evaluation/
# torch first (the version vLLM pins), then the project's train extra and vLLM, all pinned.
RUN pip install -c constraints/gpu.txt torch \
    && pip install -c constraints/gpu.txt ".[pipeline,track,train]" vllm \
    && python -c "import vrt, torch, ray, deepspeed, vllm, transformers"

USER 10001:10001
CMD ["vrt", "--help"]
