# vrt-base: the CPU pipeline steps (dataset, launchers, register, deploy), the MLflow server of
# charts/vrt-platform and the chart's hooks. Build from the repository root:
#   docker build -f infra/images/vrt-base.Dockerfile -t vrt-base:0.1.0 .
FROM python:3.11.7-slim-bookworm

ARG VRT_VERSION=0.1.0
LABEL org.opencontainers.image.title="vrt-base" \
      org.opencontainers.image.version="${VRT_VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp

RUN groupadd --gid 10001 vrt && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin vrt

WORKDIR /opt/vrt
COPY pyproject.toml README.md ./
COPY constraints/ constraints/
COPY vrt/ vrt/
COPY components/ components/
COPY pipelines/ pipelines/
COPY models/ models/
COPY evaluation/ evaluation/
# The tested CPU pins (constraints/cpu.txt); psycopg2 is the MLflow server's PostgreSQL driver.
RUN pip install -c constraints/cpu.txt ".[pipeline,track]" "psycopg2-binary==2.9.10" \
    && python -c "import vrt, kfp, mlflow, flask_wtf, psycopg2, boto3"

USER 10001:10001
CMD ["vrt", "--help"]
