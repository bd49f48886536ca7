"""The VRT training pipeline (KFP v2): dataset -> sft -> grpo -> predict -> evaluate -> register -> deploy.

Compile:  vrt pipeline compile --preset 4b --out vrt_train_4b.yaml
Run here: vrt pipeline run --local            (kfp.local SubprocessRunner, generated data)

The pipeline is built per preset (`build_pipeline`); the preset sets the defaults of the run-time
parameters (data sources and revision, sample limits, `sft_overrides` / `grpo_overrides` lists of
`key=value`), so one compiled YAML serves many runs. With `data.mix_in` (VGR) a second dataset step
prepares that source and SFT trains on the weighted mixture of both (`data.train_weight`,
`data.mix_in.weight`); GRPO keeps the train source (its rewards need answer masks).
All Kubernetes wiring is here: `wire_platform` hands every step the chart's ConfigMap and Secrets as
environment variables (vrt/k8s/platform.py is the list) and its pod's namespace; `place_on_gpus` puts the GPU pool's
placement on the GPU steps (the training steps are CPU launchers whose RayJob workers get it
through KFP task-config passthrough; predict uses its GPU in its own pod); `size` gives every task
CPU/memory requests and limits.
"""

from collections.abc import Callable
from typing import NamedTuple

from kfp import dsl, kubernetes

from components.dataset.component import prepare_dataset, synth_data
from components.deploy.component import deploy
from components.evaluate.component import evaluate, predict
from components.grpo.component import grpo
from components.register.component import register
from components.sft.component import sft
from components.sft.config import gpu_settings
from pipelines.settings import PipelineSettings
from vrt.k8s import platform

# CPU/memory (request, limit) per step kind on a cluster. The dataset steps are launchers there: conversion
# runs as Ray tasks of a RayJob whose workers are sized in components/dataset/launch.py from
# benchmarks/data_scale.py. "data" is the in-pod work of generating data.
SIZES = {
    "launcher": ("500m", "2", "1Gi", "4Gi"),
    "data": ("2", "4", "8Gi", "16Gi"),
    "evaluate": ("2", "4", "8Gi", "16Gi"),
    "register": ("1", "2", "4Gi", "16Gi"),
}
LAUNCHER_SCRATCH = "1Gi"  # a launcher's /tmp (the read-only root's only writable place): pointers and logs


def size(task: dsl.PipelineTask, kind: str) -> dsl.PipelineTask:
    """CPU and memory requests and limits of `task` (SIZES[kind])."""
    cpu_req, cpu_lim, mem_req, mem_lim = SIZES[kind]
    return task.set_cpu_request(cpu_req).set_cpu_limit(cpu_lim).set_memory_request(mem_req).set_memory_limit(mem_lim)


def wire_platform(task: dsl.PipelineTask) -> None:
    """The chart's ConfigMap keys and Secrets as env, and the pod's namespace, on `task`."""
    kubernetes.use_config_map_as_env(task, platform.CONFIG_MAP, {k: k for k in platform.CONFIG_KEYS})
    for secret in platform.SECRETS:  # optional: workload identity needs no S3 keys, auth may be off
        kubernetes.use_secret_as_env(task, secret.name, {k: k for k in secret.keys}, optional=True)
    kubernetes.use_field_path_as_env(task, platform.NAMESPACE_ENV, "metadata.namespace")


def place_on_gpus(task: dsl.PipelineTask, gpu: dict) -> None:
    """Accelerator type/limit, CPU/memory requests and limits, node selector and tolerations of the GPU
    pool on `task` (no-op without GPUs)."""
    if not gpu["accelerator_limit"]:
        return
    task.set_accelerator_type(gpu["accelerator_type"]).set_accelerator_limit(gpu["accelerator_limit"])
    task.set_cpu_request(gpu["cpu_limit"]).set_cpu_limit(gpu["cpu_limit"])
    task.set_memory_request(gpu["memory_limit"]).set_memory_limit(gpu["memory_limit"])
    for key, value in gpu["node_selector"].items():
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    for t in gpu["tolerations"]:
        kubernetes.add_toleration(
            task, key=t.get("key"), operator=t.get("operator", "Equal"), value=t.get("value"), effect=t.get("effect")
        )


class Outputs(NamedTuple):
    endpoint: str
    model_uri: str
    alias: str
    metrics: dsl.Metrics
    report: dsl.HTML


def build_pipeline(settings: PipelineSettings) -> Callable:
    """The pipeline function for one preset's settings (generated data or the Hugging Face sources)."""
    data = settings.data
    chain = _chain(settings)
    description = f"VRT: dataset -> sft -> grpo -> evaluate -> register -> deploy (preset {settings.preset})."

    if data.generated:

        @dsl.pipeline(name=f"vrt-train-{settings.preset}", description=description)
        def vrt_train(
            work_uri: str = settings.work_uri,
            n_train: int = data.n_train,
            n_bench: int = data.n_bench,
            seed: int = data.seed,
            image_size: int = data.image_size,
            eval_limit: int = settings.evaluate.limit,
            sft_overrides: list = [],  # noqa: B006 (KFP reads the default; never mutated)
            grpo_overrides: list = [],  # noqa: B006
        ) -> Outputs:
            """Generated data (vrt data synth) of n_train/n_bench samples, then the chain."""
            raw = synth_data(
                out_uri=f"{work_uri}/raw", n_train=n_train, n_bench=n_bench, seed=seed, image_size=image_size
            ).set_display_name("generate data")
            _finish(settings, raw)
            mix_from = f"{raw.output}/{data.mix_in.source}" if data.mix_in else ""
            return chain(
                work_uri, f"{raw.output}/{data.train_source}", f"{raw.output}/vrt-bench", "", eval_limit,
                sft_overrides, grpo_overrides, mix_from, "",
            )

        return vrt_train

    if data.mix_in:

        @dsl.pipeline(name=f"vrt-train-{settings.preset}", description=description)
        def vrt_train_mixed(
            work_uri: str = settings.work_uri,
            train_from: str = data.train_from,
            bench_from: str = data.bench_from,
            revision: str = data.revision,
            mix_from: str = data.mix_in.from_uri,
            mix_revision: str = data.mix_in.revision,
            eval_limit: int = settings.evaluate.limit,
            sft_overrides: list = [],  # noqa: B006
            grpo_overrides: list = [],  # noqa: B006
        ) -> Outputs:
            """The sources at pinned revisions (40-hex commits: the dataset step refuses anything else for an
            hf:// source); `mix_from` / `mix_revision`: the SFT mixture's second source (data.mix_in)."""
            return chain(work_uri, train_from, bench_from, revision, eval_limit, sft_overrides, grpo_overrides,
                         mix_from, mix_revision)

        return vrt_train_mixed

    @dsl.pipeline(name=f"vrt-train-{settings.preset}", description=description)
    def vrt_train(
        work_uri: str = settings.work_uri,
        train_from: str = data.train_from,
        bench_from: str = data.bench_from,
        revision: str = data.revision,
        eval_limit: int = settings.evaluate.limit,
        sft_overrides: list = [],  # noqa: B006
        grpo_overrides: list = [],  # noqa: B006
    ) -> Outputs:
        """The sources at a pinned revision (a 40-hex commit: the dataset step refuses anything else)."""
        return chain(work_uri, train_from, bench_from, revision, eval_limit, sft_overrides, grpo_overrides, "", "")

    return vrt_train


def _finish(settings: PipelineSettings, task: dsl.PipelineTask, kind: str = "data") -> dsl.PipelineTask:
    """Platform env and sizing on a task (cluster runtime only: kfp.local ignores both anyway)."""
    if settings.runtime == "kubernetes":
        wire_platform(task)
        size(task, kind)
    return task


def _chain(settings: PipelineSettings) -> Callable:
    """The steps after the data source, as a function of the pipeline's run-time parameters."""
    ev, reg, dep = settings.evaluate, settings.register, settings.deploy
    gpu = gpu_settings(settings.preset)

    def chain(work_uri, train_from, bench_from, revision, eval_limit, sft_overrides, grpo_overrides, mix_from,
              mix_revision) -> Outputs:
        train = prepare_dataset(
            source=settings.data.train_source, from_uri=train_from, out_uri=f"{work_uri}/datasets/train",
            revision=revision, runtime=settings.runtime,
        ).set_display_name("dataset: train")
        bench = prepare_dataset(
            source="vrt-bench", from_uri=bench_from, out_uri=f"{work_uri}/datasets/bench", revision=revision,
            runtime=settings.runtime,
        ).set_display_name("dataset: bench")
        mix, mixed = settings.data.mix_in, None
        if mix:
            mixed = prepare_dataset(
                source=mix.source, from_uri=mix_from, out_uri=f"{work_uri}/datasets/train-{mix.source}",
                revision=mix_revision, runtime=settings.runtime,
            ).set_display_name(f"dataset: train {mix.source}")
        sft_task = sft(
            config=settings.preset, output=f"{work_uri}/sft", overrides=sft_overrides,
            dataset=train.outputs["dataset"], runtime=settings.runtime,
            weights=settings.data.sft_weights, **({"mix_dataset": mixed.outputs["dataset"]} if mixed else {}),
        ).set_display_name("sft")
        grpo_task = grpo(
            config=settings.preset, output=f"{work_uri}/grpo", overrides=grpo_overrides,
            dataset=train.outputs["dataset"], init_model=sft_task.outputs["model"], runtime=settings.runtime,
        ).set_display_name("grpo")
        predict_task = predict(
            model=grpo_task.outputs["model"], dataset=bench.outputs["dataset"], batch_size=ev.batch_size,
            max_new_tokens=ev.max_new_tokens, limit=eval_limit,
        ).set_display_name("evaluate: predict")
        score = evaluate(
            bench="vrt-bench", dataset=bench.outputs["dataset"], predictions=predict_task.outputs["predictions"]
        ).set_display_name("evaluate: score")
        registered = register(
            model=grpo_task.outputs["model"], metrics=score.outputs["metrics"], dataset=train.outputs["dataset"],
            bench_dataset=bench.outputs["dataset"], model_name=settings.model_name, primary=reg.primary,
            margin=reg.margin, guards=reg.guards, tolerance=reg.tolerance,
            pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ).set_display_name("register")
        served = deploy(
            model_uri=registered.outputs["model_uri"], mode=settings.runtime, name=dep.name,
            namespace=dep.namespace, canary_percent=dep.canary_percent, deployment_mode=dep.deployment_mode,
            gpus=gpu["accelerator_limit"], timeout_s=dep.timeout_s,
        ).set_display_name("deploy")
        data_tasks = (train, bench, *([mixed] if mixed else []))
        _hygiene(settings, gpu, data_tasks, sft_task, grpo_task, predict_task, score, registered, served)
        return Outputs(
            endpoint=served.output, model_uri=registered.outputs["model_uri"], alias=registered.outputs["alias"],
            metrics=score.outputs["metrics"], report=score.outputs["report"],
        )

    return chain


def _hygiene(settings: PipelineSettings, gpu: dict, data_tasks: tuple, sft_task, grpo_task, predict_task, score,
             registered, served) -> None:
    """Caching, retries, sizing, platform env and GPU placement of every task of the chain."""
    for task in (*data_tasks, score):
        task.set_retry(num_retries=3, backoff_duration="30s", backoff_factor=2.0, backoff_max_duration="600s")
    predict_task.set_retry(num_retries=2, backoff_duration="60s", backoff_factor=2.0, backoff_max_duration="600s")
    # Side effects (registry, serving) and training never come from the cache unless a run asks
    # (`settings.cache_training`): a cached GRPO step would reuse last week's model silently.
    for task in (registered, served, *(() if settings.cache_training else (sft_task, grpo_task))):
        task.set_caching_options(False)
    for task, kind in (*((t, "launcher") for t in data_tasks), (sft_task, "launcher"), (grpo_task, "launcher"),
                       (predict_task, "evaluate"), (score, "evaluate"), (registered, "register"),
                       (served, "launcher")):
        _finish(settings, task, kind)
    if settings.runtime == "kubernetes":
        for task in data_tasks:  # the conversion itself runs in the RayJob (its raw cache is on S3)
            kubernetes.empty_dir_mount(task, volume_name="scratch", mount_path="/tmp", size_limit=LAUNCHER_SCRATCH)
        kubernetes.add_pod_label(served, "vrt.io/role", "deployer")  # admitted by the predictor's NetworkPolicy
    for task in (sft_task, grpo_task, predict_task):
        place_on_gpus(task, gpu)
