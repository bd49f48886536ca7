"""Launch an SFT run: `local` (Ray on this machine, or in-process without Ray) or `kubernetes` (a RayJob).

    manifest = run_sft(load_train_config("tiny", ["sft.dataset=.vrt/data/train"]), runtime="local")

Local: one MLflow run (nested under VRT_PARENT_RUN_ID when set) with the config as params
and the dataset as input, a Ray Train TorchTrainer with FailureConfig and per-step
checkpoints under `<sft.output>/<run_name>/`, then the model logged as an artifact.
`launcher="none"` runs the same recipe in this process instead (one process per device;
torchrun's RANK/WORLD_SIZE/... when set), with no Ray at all.
Kubernetes: the same local launcher runs as the RayJob's driver (`python -m
components.sft.launch`, config in VRT_SFT_CONFIG) against the RayJob's own Ray cluster;
this process builds, creates and watches the RayJob and stays on the CPU pool.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import yaml

from components.sft.checkpoint import resolve_resume
from components.sft.config import LAUNCHERS, RESUME_LATEST, TrainConfig, config_from_raw
from components.sft.export import ModelManifest, read_model_manifest
from components.sft.ingest import open_dataset
from components.sft.mixture import Mixture, MixtureRows
from vrt import storage
from vrt.console import console
from vrt.errors import UserError

CONFIG_ENV = "VRT_SFT_CONFIG"
FORWARDED_ENV = ("MLFLOW_TRACKING_URI", "VRT_PARENT_RUN_ID", "VRT_EXPERIMENT", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")


def _run_name(tc: TrainConfig) -> str:
    return tc.sft.run_name or f"sft-{tc.model}-{time.strftime('%Y%m%d-%H%M%S')}"


def storage_target(output: str) -> tuple[str, Any]:
    """Ray Train's storage_path and filesystem for a local directory or an s3:// prefix."""
    if storage.is_s3(output):
        from pyarrow import fs

        endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
        return output[len("s3://") :].rstrip("/"), fs.S3FileSystem(endpoint_override=endpoint)
    return output, None


def log_datasets(training: Mixture, eval_uri: str) -> None:
    """Each source's manifest as an MLflow input (name source@revision, digest from the manifest, weight tag)."""
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    roles = [("training", uri, {"weight": f"{w:g}"}) for uri, w in training]
    for role, data_uri, tags in roles + ([("evaluation", eval_uri, {})] if eval_uri else []):
        manifest = open_dataset(data_uri)
        location = data_uri if storage.is_s3(data_uri) else str(Path(data_uri).resolve())
        with warnings.catch_warnings():  # mlflow registers the local-file source class twice and warns
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(storage.join(location, "manifest.json"))
        ds = MetaDataset(source=source, name=f"{manifest.source}@{manifest.revision}", digest=manifest.sha256[:16])
        mlflow.log_input(ds, context=role, tags=tags or None)


def check_sources(section: Any, name: str) -> None:
    """Every training source of the `name` section (sft or grpo) is a non-empty canonical dataset."""
    if not section.mixture:
        raise UserError(f"{name}.dataset is empty: set {name}.dataset=<canonical dataset URI> (local dir or s3://), "
                        f"or {name}.datasets={{URI: weight, ...}} for a mixture")
    MixtureRows.open(section.mixture, f"{name}.datasets" if section.datasets else f"{name}.dataset")


def forwarded_env(use_gpu: bool, tracking: str) -> dict[str, str]:
    """Environment every Ray worker needs: tracking, parent run, S3 endpoint, DeepSpeed accelerator."""
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    return env | {"DS_ACCELERATOR": "cuda" if use_gpu else "cpu", "MLFLOW_TRACKING_URI": tracking}


def torch_trainer(loop: Any, worker_job: dict[str, Any], run_name: str, section: Any, gpus_per_worker: int):
    """A Ray TorchTrainer for a recipe's `loop`; `section` is the sft or grpo config (workers, output, ...)."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    storage_path, filesystem = storage_target(section.output)
    resources = {"CPU": section.cpus_per_worker} | ({"GPU": gpus_per_worker} if section.use_gpu else {})
    return TorchTrainer(
        loop,
        train_loop_config=worker_job,
        torch_config=TorchConfig(backend="nccl" if section.use_gpu else "gloo"),
        scaling_config=ScalingConfig(
            num_workers=section.num_workers, use_gpu=section.use_gpu, resources_per_worker=resources
        ),
        run_config=RunConfig(
            name=run_name, storage_path=storage_path, storage_filesystem=filesystem,
            failure_config=FailureConfig(max_failures=section.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=section.keep_checkpoints),
            worker_runtime_env={"env_vars": forwarded_env(section.use_gpu, worker_job["tracking_uri"])},
        ),
    )


def absolute_paths(section: dict[str, Any], values: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """`section` with the local paths among `keys` made absolute (Ray workers have another working directory)."""
    out = dict(section)
    for key in keys:
        value = getattr(values, key)
        if value and not storage.is_s3(value) and value != RESUME_LATEST:
            out[key] = str(Path(value).resolve())
    if getattr(values, "datasets", None):  # a mixture's local sources too
        out["datasets"] = [{"uri": uri if storage.is_s3(uri) else str(Path(uri).resolve()), "weight": w}
                           for uri, w in values.datasets]
    return out


def _absolute(tc: TrainConfig) -> TrainConfig:
    """The config with local paths made absolute."""
    keys = ("dataset", "eval_dataset", "output", "resume_from")
    return config_from_raw(dict(tc.raw, sft=absolute_paths(tc.raw.get("sft") or {}, tc.sft, keys)), tc.source)


def check_launcher(launcher: str, run_name: str, section: str) -> bool:
    """Validate `launcher`; True when this process is a rank other than 0 of a `launcher none` group."""
    if launcher not in LAUNCHERS:
        raise UserError(f"unknown launcher {launcher!r}: use {' or '.join(LAUNCHERS)}")
    if launcher != "none" or int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return False
    if not run_name:
        raise UserError(f"launcher none with WORLD_SIZE > 1: set {section}.run_name=<name> so every rank "
                        "writes the same run directory")
    return int(os.environ.get("RANK", "0")) != 0


def run_workers(loop: Any, job: dict[str, Any], run_name: str, section: Any, gpus_per_worker: int,
                launcher: str, ray_address: str | None = None) -> None:
    """Run a recipe's worker loop: in this process (`none`) or on Ray Train workers (`ray`)."""
    if launcher == "none":
        loop(dict(job, launcher="none"))
        return
    import ray

    if not ray.is_initialized():
        # a local cluster gets at least the CPUs the workers ask for (small laptops, CI)
        cpus = None if ray_address else max(os.cpu_count() or 1, section.num_workers * section.cpus_per_worker)
        ray.init(address=ray_address, num_cpus=cpus, include_dashboard=False, log_to_driver=True)
    torch_trainer(loop, job, run_name, section, gpus_per_worker).fit()


def run_local(tc: TrainConfig, ray_address: str | None = None, launcher: str = "ray") -> ModelManifest:
    """Train on this machine: Ray Train workers (or the Ray cluster at `ray_address`), or in this process.

    `launcher="none"` runs the recipe here, one process per device: alone, or as one rank of a
    torchrun group (RANK/WORLD_SIZE/... from the environment; rank 0 owns the MLflow run).
    """
    import mlflow

    from components.sft.recipe import train_loop_per_worker
    from vrt.tracking import step_run, tracking_uri

    tc = _absolute(tc)
    sft = tc.sft
    secondary = check_launcher(launcher, sft.run_name, "sft")
    check_sources(sft, "sft")
    run_name = _run_name(tc)
    run_dir = storage.join(sft.output, run_name)
    resume = resolve_resume(sft.resume_from, sft.output)
    job = {"raw": tc.raw, "source": tc.source, "run_dir": run_dir, "resume": resume,
           "run_id": "", "tracking_uri": "", "eval_dataset": sft.eval_dataset}
    if secondary:  # a torchrun rank other than 0: trains, rank 0 logs
        run_workers(train_loop_per_worker, job, run_name, sft, tc.gpu.count, launcher)
        return read_model_manifest(run_dir)
    if sft.resume_from and not resume:
        console.print(f"sft.resume_from={sft.resume_from}: no checkpoint under {sft.output} yet, starting fresh")
    with step_run("sft", params=tc.to_params(), tags={"vrt.preset": tc.model, "vrt.run_dir": run_dir}) as run:
        log_datasets(sft.mixture, sft.eval_dataset)
        job |= {"run_id": run.info.run_id, "tracking_uri": tracking_uri()}
        console.print(f"sft: {sft.num_workers} workers ({launcher}), {sft.strategy} (ZeRO-{sft.zero_stage}), "
                      f"run dir {run_dir}")
        run_workers(train_loop_per_worker, job, run_name, sft, tc.gpu.count, launcher, ray_address)
        manifest = read_model_manifest(run_dir)
        # the weights stay where the run exported them (manifest.uri); MLflow keeps the pointer, and the
        # register step logs the one MLflow copy (a LoggedModel)
        mlflow.log_dict(manifest.__dict__, "model_manifest.json")
        mlflow.set_tags({"vrt.model_uri": manifest.uri, "vrt.model_sha256": manifest.sha256})
    return manifest


def rayjob_manifest(tc: TrainConfig, image: str, run_name: str) -> dict[str, Any]:
    """The RayJob that runs this config on the cluster: CPU head (driver), GPU worker group."""
    from vrt.k8s.rayjob import RayJobSpec, build_rayjob

    raw = dict(tc.raw, sft=dict(tc.raw.get("sft") or {}, run_name=run_name))
    env = {k: os.environ[k] for k in FORWARDED_ENV if k in os.environ}
    runtime_env = yaml.safe_dump({"env_vars": {CONFIG_ENV: yaml.safe_dump(raw, sort_keys=True)}})
    spec = RayJobSpec(
        name=run_name.lower().replace("_", "-")[:63], namespace=tc.sft.k8s_namespace, image=image,
        entrypoint="python -m components.sft.launch", workers=tc.sft.num_workers, gpus_per_worker=tc.gpu.count,
        gpu_resource=tc.gpu.resource, worker_cpus=tc.gpu.cpus, worker_memory=tc.gpu.memory,
        node_selector=dict(tc.gpu.node_selector), tolerations=list(tc.gpu.tolerations), env=env,
        env_from_secrets=list(tc.sft.k8s_secrets), runtime_env_yaml=runtime_env,
        active_deadline_s=tc.sft.k8s_timeout_s, labels={"vrt.io/step": "sft", "vrt.io/preset": tc.model},
    )
    return build_rayjob(spec)


def run_kubernetes(tc: TrainConfig, image: str) -> ModelManifest:
    """Create the RayJob, stream its logs until it ends, then read the model manifest it published."""
    from vrt.k8s.rayjob import run_rayjob

    uris = [uri for uri, _ in tc.sft.mixture]
    if not storage.is_s3(tc.sft.output) or not uris or not all(storage.is_s3(uri) for uri in uris):
        raise UserError("runtime kubernetes needs sft.output and sft.dataset (or each of sft.datasets) on s3:// "
                        "(the pods share no disk)")
    run_name = _run_name(tc)
    manifest = rayjob_manifest(tc, image, run_name)
    run_rayjob(manifest, timeout_s=tc.sft.k8s_timeout_s + 600, emit=lambda line: console.print(line, highlight=False))
    return read_model_manifest(storage.join(tc.sft.output, run_name))


def run_sft(tc: TrainConfig, runtime: str = "local", image: str = "", launcher: str = "ray") -> ModelManifest:
    """Run SFT with the given runtime (`local` or `kubernetes`); locally with the given launcher (ray or none)."""
    if runtime == "local":
        return run_local(tc, launcher=launcher)
    if launcher != "ray":
        raise UserError(f"launcher {launcher!r} is for runtime local: runtime kubernetes always runs a RayJob")
    if runtime == "kubernetes":
        from components.images import TRAIN_IMAGE

        return run_kubernetes(tc, image or TRAIN_IMAGE)
    raise UserError(f"unknown runtime {runtime!r}: use local or kubernetes")


def main() -> None:
    """RayJob driver: the config from VRT_SFT_CONFIG, trained on the RayJob's cluster."""
    text = os.environ.get(CONFIG_ENV)
    if not text:
        raise SystemExit(f"{CONFIG_ENV} is not set: this entry point runs inside the SFT RayJob")
    manifest = run_local(config_from_raw(yaml.safe_load(text), f"env:{CONFIG_ENV}"), ray_address="auto")
    print(manifest.to_json())


if __name__ == "__main__":
    main()
