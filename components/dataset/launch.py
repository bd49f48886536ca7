"""Run `vrt data prepare` on the cluster: a KubeRay RayJob whose driver converts chunks as Ray tasks.

The dataset step's pod stays a small launcher on the CPU pool: it creates the RayJob, streams
its driver's log, and reads the published manifest. The driver is the ordinary CLI with
`--executor ray`: it plans the chunks, runs each as a Ray task on the RayJob's CPU workers
(the same `run_chunk` the local process pool runs), and publishes the manifest once, last.
Done markers make a rerun resume, on the cluster as locally.

    manifest = prepare_on_cluster(PrepareConfig("vrt-80k", "s3://raw/vrt-80k", "s3://b/ds"), ClusterSettings())
"""

from __future__ import annotations

import os
import re
import shlex
import time
from dataclasses import dataclass
from typing import Any

from vrt import storage
from vrt.console import console
from vrt.data.manifest import Manifest, read_manifest
from vrt.data.prepare import PrepareConfig
from vrt.errors import UserError


@dataclass(frozen=True)
class ClusterSettings:
    """The conversion RayJob: CPU workers only (no GPU), Secrets passed by reference. Namespace and Secrets
    default to the platform's (vrt.k8s.platform: the step pod's namespace, the Secrets the chart declares)."""

    namespace: str = ""  # "": the step pod's namespace
    image: str = ""  # default: the train image (it has Ray)
    workers: int = 4
    cpus_per_worker: int = 8
    # benchmarks/data_scale.py: a conversion process peaks at ~0.25 GB (2250x1500 JPEGs, 30 RLEs, row
    # groups of 32): 8 of them ~2 GB, plus the raw object each streams in and Ray's own processes
    memory_per_worker: str = "6Gi"
    secrets: tuple[str, ...] | None = None  # None: the Secrets this install declares
    timeout_s: int = 86400

    def __post_init__(self) -> None:
        if self.workers < 1 or self.cpus_per_worker < 1:
            raise ValueError("workers and cpus_per_worker must be >= 1")


def entrypoint(cfg: PrepareConfig, tasks: int) -> str:
    """The driver's command line: the CLI, converting with `tasks` Ray tasks in flight."""
    args = ["python", "-m", "vrt.cli.main", "data", "prepare", "--source", cfg.source, "--from", cfg.from_uri,
            "--out", cfg.out_uri, "--shard-size", str(cfg.shard_size), "--row-group-size", str(cfg.row_group_size),
            "--executor", "ray", "--workers", str(tasks)]
    if cfg.revision:
        args += ["--revision", cfg.revision]
    if cfg.cache_uri:
        args += ["--cache", cfg.cache_uri]
    return shlex.join(args)


def rayjob_manifest(cfg: PrepareConfig, cluster: ClusterSettings, name: str) -> dict[str, Any]:
    from components.images import TRAIN_IMAGE
    from vrt.k8s import platform
    from vrt.k8s.rayjob import RayJobSpec, build_rayjob

    secrets = platform.secret_names() if cluster.secrets is None else list(cluster.secrets)
    spec = RayJobSpec(
        name=name, namespace=platform.namespace(cluster.namespace), image=cluster.image or TRAIN_IMAGE,
        entrypoint=entrypoint(cfg, cluster.workers * cluster.cpus_per_worker), workers=cluster.workers,
        worker_cpus=cluster.cpus_per_worker, worker_memory=cluster.memory_per_worker,
        env={k: os.environ[k] for k in platform.WORKLOAD_ENV if os.environ.get(k)}, env_from_secrets=secrets,
        active_deadline_s=cluster.timeout_s, labels={"vrt.io/step": "dataset", "vrt.io/source": cfg.source},
    )
    return build_rayjob(spec)


def prepare_on_cluster(cfg: PrepareConfig, cluster: ClusterSettings, api_client: Any = None) -> Manifest:
    """Create the conversion RayJob, follow it to the end, and return the manifest it published."""
    from vrt.k8s.rayjob import run_rayjob

    if not storage.is_s3(cfg.out_uri) or not (storage.is_s3(cfg.from_uri) or cfg.from_uri.startswith("hf://")):
        raise UserError("runtime kubernetes needs --from on s3:// or hf:// and --out on s3:// (the pods share no disk)")
    name = re.sub(r"[^a-z0-9-]", "-", f"prepare-{cfg.source}-{time.strftime('%Y%m%d-%H%M%S')}")[:63]
    manifest = rayjob_manifest(cfg, cluster, name)
    run_rayjob(manifest, timeout_s=cluster.timeout_s + 600, api_client=api_client,
               emit=lambda line: console.print(line, highlight=False))
    return read_manifest(cfg.out_uri)
