# vrt-serve: the KServe predictor (v1 + v2 protocols) of the ServingRuntime in charts/vrt-platform, and
# the pipeline's deploy step (it carries kfp: no step installs packages at pod start).
# torch's CUDA wheels carry the CUDA runtime; the node's driver comes from the GPU operator.
# Build from the repository root:
#   docker build -f infra/images/vrt-serve.Dockerfile -t vrt-serve:0.1.0 .
FROM python:3.11.7-slim-bookworm

ARG VRT_VERSION=0.1.0
LABEL org.opencontainers.image.title="vrt-serve" \
      org.opencontainers.image.version="${VRT_VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp HF_HUB_OFFLINE=1

RUN groupadd --gid 10001 vrt && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin vrt

WORKDIR /opt/vrt
COPY pyproject.toml README.md ./
COPY infra/images/gpu-constraints.txt constraints/gpu.txt
COPY vrt/ vrt/
COPY components/ components/
COPY pipelines/ pipelines/
COPY models/ models/
COPY evaluation/ evaluation/
RUN pip install -c constraints/gpu.txt torch \
    && pip install -c constraints/gpu.txt ".[pipeline,serve,track]" \
    && python -c "import vrt, torch, kserve, transformers, kfp"

USER 10001:10001
EXPOSE 8080
# The ServingRuntime and components/deploy/isvc.py pass --model_uri, --model_name, --host, --http_port.
ENTRYPOINT ["python", "-m", "components.deploy.server"]
