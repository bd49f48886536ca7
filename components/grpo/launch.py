"""Launch a GRPO run: `local` (Ray on this machine, or in-process) or `kubernetes` (a RayJob), like the SFT step.

    job = load_grpo_config("tiny", ["init_from=.vrt/sft/run/model", "grpo.dataset=.vrt/data/train"])
    manifest = run_grpo(job)

Local: checks the prompts (non-empty canonical dataset) and the initial model (an R-Sa2VA
with `[SEG]`), opens one MLflow run (nested under VRT_PARENT_RUN_ID when set), optionally
selects the high-variance prompts (a new dataset under the run directory), runs a Ray Train
TorchTrainer over `components.grpo.recipe` (or, with `launcher="none"`, the same recipe in this
process), then logs the exported model as an artifact.
Kubernetes: this same launcher is the RayJob's driver (`python -m components.grpo.launch`,
config in VRT_GRPO_CONFIG); the calling process only creates and watches the RayJob.
"""

from __future__ import annotations

import os
import time
from typing import Any

import yaml

from components.grpo.config import GRPOJob, job_from_raw
from components.grpo.policy import check_seg_model, resolve_model_uri
from components.sft.checkpoint import resolve_resume
from components.sft.export import ModelManifest, read_model_manifest
from components.sft.launch import (
    FORWARDED_ENV,
    absolute_paths,
    check_launcher,
    check_sources,
    log_datasets,
    run_workers,
)
from vrt import storage
from vrt.console import console
from vrt.errors import UserError

CONFIG_ENV = "VRT_GRPO_CONFIG"
SELECTED_DIR = "selected_prompts"


def _run_name(job: GRPOJob) -> str:
    return job.grpo.run_name or f"grpo-{job.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def _absolute(job: GRPOJob) -> GRPOJob:
    """The job with local paths made absolute."""
    keys = ("dataset", "init_from", "output", "resume_from")
    return job_from_raw(dict(job.raw, grpo=absolute_paths(job.raw.get("grpo") or {}, job.grpo, keys)), job.source)


def _check_inputs(job: GRPOJob) -> str:
    """The initial model's directory URI, after checking the prompts and the model."""
    check_sources(job.grpo, "grpo")
    model_uri = resolve_model_uri(job.grpo.init_from)
    check_seg_model(model_uri)
    return model_uri


def _select(job: GRPOJob, model_uri: str, out_uri: str, launcher: str) -> str:
    """The high-variance selection data step: in this process (`none`) or as a Ray task on a training-like
    worker (a GPU one on a cluster)."""
    from components.grpo.selection import select_prompts

    g = job.grpo
    device = "cuda" if g.use_gpu else "cpu"
    source = g.mixture[0][0]  # one source (GRPOConfig checks)
    if launcher == "none":
        return select_prompts(source, model_uri, g, out_uri, device)
    import ray

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=True)
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    task = ray.remote(num_cpus=g.cpus_per_worker, num_gpus=job.gpu.count if g.use_gpu else 0)(select_prompts)
    return ray.get(
        task.options(runtime_env={"env_vars": env}).remote(source, model_uri, g, out_uri, device)
    )


def run_local(job: GRPOJob, ray_address: str | None = None, launcher: str = "ray") -> ModelManifest:
    """GRPO on this machine: Ray Train workers (or the Ray cluster at `ray_address`), or in this process.

    `launcher="none"` runs the recipe here, alone or as one rank of a torchrun group (rank 0 owns
    the MLflow run and the prompt selection; set grpo.run_name for several ranks).
    """
    import mlflow

    from components.grpo.recipe import train_loop_per_worker
    from vrt.tracking import step_run, tracking_uri

    job = _absolute(job)
    g = job.grpo
    secondary = check_launcher(launcher, g.run_name, "grpo")
    if secondary and g.select_high_variance:
        raise UserError("grpo.select_high_variance with launcher none and WORLD_SIZE > 1: select once first "
                        "(one process), then train every rank on the selected dataset")
    model_uri = _check_inputs(job)
    run_name = _run_name(job)
    run_dir = storage.join(g.output, run_name)
    resume = resolve_resume(g.resume_from, g.output, section="grpo")
    worker_job = {"raw": job.raw, "source": job.source, "run_dir": run_dir, "resume": resume, "run_id": "",
                  "tracking_uri": "", "datasets": [list(entry) for entry in g.mixture], "model_uri": model_uri}
    if secondary:  # a torchrun rank other than 0: trains, rank 0 logs
        run_workers(train_loop_per_worker, worker_job, run_name, g, job.gpu.count, launcher)
        return read_model_manifest(run_dir)
    if g.resume_from and not resume:
        console.print(f"grpo.resume_from={g.resume_from}: no checkpoint under {g.output} yet, starting fresh")
    tags = {"vrt.preset": job.model, "vrt.run_dir": run_dir, "vrt.init_from": model_uri}
    with step_run("grpo", params=job.to_params(), tags=tags) as run:
        log_datasets(g.mixture, "")
        if g.select_high_variance:
            source = g.mixture[0]
            console.print(f"grpo: selecting the {g.select_high_variance} highest-variance prompts of {source[0]}")
            selected = _select(job, model_uri, storage.join(run_dir, SELECTED_DIR), launcher)
            mlflow.set_tag("vrt.selected_dataset", selected)
            worker_job["datasets"] = [[selected, source[1]]]
        worker_job |= {"run_id": run.info.run_id, "tracking_uri": tracking_uri()}
        console.print(
            f"grpo: {g.num_workers} worker(s) ({launcher}), engine {g.engine}, group {g.group_size}, run dir {run_dir}"
        )
        run_workers(train_loop_per_worker, worker_job, run_name, g, job.gpu.count, launcher, ray_address)
        manifest = read_model_manifest(run_dir)
        # the weights stay where the run exported them (manifest.uri); MLflow keeps the pointer, and the
        # register step logs the one MLflow copy (a LoggedModel)
        mlflow.log_dict(manifest.__dict__, "model_manifest.json")
        mlflow.set_tags({"vrt.model_uri": manifest.uri, "vrt.model_sha256": manifest.sha256})
    return manifest


def rayjob_manifest(job: GRPOJob, image: str, run_name: str) -> dict[str, Any]:
    """The RayJob that runs this config on the cluster: CPU head (driver), GPU worker group."""
    from vrt.k8s.rayjob import RayJobSpec, build_rayjob

    g = job.grpo
    grpo = dict(job.raw.get("grpo") or {}, run_name=run_name, init_from=resolve_model_uri(g.init_from))
    raw = dict(job.raw, grpo=grpo)
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    runtime_env = yaml.safe_dump({"env_vars": {CONFIG_ENV: yaml.safe_dump(raw, sort_keys=True)}})
    spec = RayJobSpec(
        name=run_name.lower().replace("_", "-")[:63],
        namespace=g.k8s_namespace,
        image=image,
        entrypoint="python -m components.grpo.launch",
        workers=g.num_workers,
        gpus_per_worker=job.gpu.count,
        gpu_resource=job.gpu.resource,
        worker_cpus=job.gpu.cpus,
        worker_memory=job.gpu.memory,
        node_selector=dict(job.gpu.node_selector),
        tolerations=list(job.gpu.tolerations),
        env=env,
        env_from_secrets=list(g.k8s_secrets),
        runtime_env_yaml=runtime_env,
        active_deadline_s=g.k8s_timeout_s,
        labels={"vrt.io/step": "grpo", "vrt.io/preset": job.model},
    )
    return build_rayjob(spec)


def run_grpo(job: GRPOJob, runtime: str = "local", image: str = "", launcher: str = "ray") -> ModelManifest:
    """Run GRPO with the given runtime (`local` or `kubernetes`); locally with the given launcher (ray or none)."""
    if runtime == "local":
        return run_local(job, launcher=launcher)
    if runtime != "kubernetes":
        raise UserError(f"unknown runtime {runtime!r}: use local or kubernetes")
    if launcher != "ray":
        raise UserError(f"launcher {launcher!r} is for runtime local: runtime kubernetes always runs a RayJob")
    from components.images import TRAIN_IMAGE
    from vrt.k8s.rayjob import run_rayjob

    g = job.grpo
    uris = [g.output, resolve_model_uri(g.init_from)] + [uri for uri, _ in g.mixture]
    if not g.mixture or not all(storage.is_s3(u) for u in uris):
        raise UserError(
            "runtime kubernetes needs grpo.output, grpo.dataset (or each of grpo.datasets) and the init_from "
            "model on s3:// "
            "(the pods share no disk)"
        )
    run_name = _run_name(job)
    manifest = rayjob_manifest(job, image or TRAIN_IMAGE, run_name)
    run_rayjob(
        manifest, timeout_s=g.k8s_timeout_s + 600, emit=lambda line: console.print(line, highlight=False)
    )
    return read_model_manifest(storage.join(g.output, run_name))


def main() -> None:
    """RayJob driver: the config from VRT_GRPO_CONFIG, trained on the RayJob's cluster."""
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise SystemExit(f"{CONFIG_ENV} is not set: this entry point runs inside the GRPO RayJob")
    manifest = run_local(job_from_raw(yaml.safe_load(text), f"env:{CONFIG_ENV}"), ray_address="auto")
    print(manifest.to_json())


if __name__ == "__main__":
    main()
