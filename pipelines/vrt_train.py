"""The VRT training pipeline (KFP v2): dataset -> sft -> grpo -> predict + evaluate (VRT-Bench and ReasonSeg)
-> register (gated on both) -> deploy.

Compile:  vrt pipeline compile --preset 4b --out vrt_train_4b.yaml
Run here: vrt pipeline run --local            (kfp.local SubprocessRunner, generated data)

The pipeline is built per preset (`build_pipeline`); the preset sets the defaults of the run-time
parameters (data sources and revisions, sample limits, `sft_overrides` / `grpo_overrides` lists of
`key=value`), so one compiled YAML serves many runs. With `data.mix_in` (VGR) a dataset step of its own
prepares that source and SFT trains on the weighted mixture of both (`data.train_weight`,
`data.mix_in.weight`); GRPO keeps the train source (its rewards need answer masks). Each benchmark has
its own dataset, predict and evaluate tasks (KFP Metrics + HTML each); register gets both metric sets.
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
    metrics: dsl.Metrics  # VRT-Bench
    report: dsl.HTML
    reasonseg_metrics: dsl.Metrics
    reasonseg_report: dsl.HTML


class Sources(NamedTuple):
    """Where the chain's datasets come from (run-time parameters of the pipeline)."""

    train_from: str
    bench_from: str
    revision: str
    reasonseg_from: str
    reasonseg_revision: str
    mix_from: str = ""  # data.mix_in's source and revision ("": the train source alone)
    mix_revision: str = ""


def build_pipeline(settings: PipelineSettings) -> Callable:
    """The pipeline function for one preset's settings (generated data or the Hugging Face sources)."""
    data = settings.data
    chain = _chain(settings)
    description = (
        f"VRT: dataset -> sft -> grpo -> evaluate (VRT-Bench, ReasonSeg) -> register -> deploy (preset {settings.preset})."
    )

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
            """Generated data (vrt data synth) of n_train samples and n_bench per benchmark, then the chain."""
            raw = synth_data(
                out_uri=f"{work_uri}/raw", n_train=n_train, n_bench=n_bench, seed=seed, image_size=image_size
            ).set_display_name("generate data")
            _finish(settings, raw)
            mix_from = f"{raw.output}/{data.mix_in.source}" if data.mix_in else ""
            sources = Sources(
                f"{raw.output}/{data.train_source}", f"{raw.output}/vrt-bench", "", f"{raw.output}/reasonseg", "",
                mix_from, "",
            )
            return chain(work_uri, sources, eval_limit, sft_overrides, grpo_overrides)

        return vrt_train

    if data.mix_in:

        @dsl.pipeline(name=f"vrt-train-{settings.preset}", description=description)
        def vrt_train_mixed(
            work_uri: str = settings.work_uri,
            train_from: str = data.train_from,
            bench_from: str = data.bench_from,
            revision: str = data.revision,
            reasonseg_from: str = data.reasonseg_from,
            reasonseg_revision: str = data.reasonseg_revision,
            mix_from: str = data.mix_in.from_uri,
            mix_revision: str = data.mix_in.revision,
            eval_limit: int = settings.evaluate.limit,
            sft_overrides: list = [],  # noqa: B006
            grpo_overrides: list = [],  # noqa: B006
        ) -> Outputs:
            """The sources at pinned revisions (40-hex commits: the dataset step refuses anything else for an
            hf:// source); `mix_from` / `mix_revision`: the SFT mixture's second source (data.mix_in)."""
            sources = Sources(train_from, bench_from, revision, reasonseg_from, reasonseg_revision, mix_from,
                              mix_revision)
            return chain(work_uri, sources, eval_limit, sft_overrides, grpo_overrides)

        return vrt_train_mixed

    @dsl.pipeline(name=f"vrt-train-{settings.preset}", description=description)
    def vrt_train(
        work_uri: str = settings.work_uri,
        train_from: str = data.train_from,
        bench_from: str = data.bench_from,
        revision: str = data.revision,
        reasonseg_from: str = data.reasonseg_from,
        reasonseg_revision: str = data.reasonseg_revision,
        eval_limit: int = settings.evaluate.limit,
        sft_overrides: list = [],  # noqa: B006
        grpo_overrides: list = [],  # noqa: B006
    ) -> Outputs:
        """The sources at pinned revisions (40-hex commits: the dataset step refuses anything else);
        `revision` pins train_from and bench_from, `reasonseg_revision` the ReasonSeg repository."""
        sources = Sources(train_from, bench_from, revision, reasonseg_from, reasonseg_revision)
        return chain(work_uri, sources, eval_limit, sft_overrides, grpo_overrides)

    return vrt_train


def _finish(settings: PipelineSettings, task: dsl.PipelineTask, kind: str = "data") -> dsl.PipelineTask:
    """Platform env and sizing on a task (cluster runtime only: kfp.local ignores both anyway)."""
    if settings.runtime == "kubernetes":
        wire_platform(task)
        size(task, kind)
    return task


class Bench(NamedTuple):
    """One benchmark's tasks: its dataset, the model's predictions on it, their scores."""

    dataset: dsl.PipelineTask
    predict: dsl.PipelineTask
    score: dsl.PipelineTask


def _benchmark(settings: PipelineSettings, bench: str, from_uri, revision, work_uri, model, eval_limit) -> Bench:
    """Dataset, predict and evaluate tasks of `bench` (vrt-bench or reasonseg) for `model`."""
    ev, folder = settings.evaluate, "bench" if bench == "vrt-bench" else bench
    dataset = prepare_dataset(
        source=bench, from_uri=from_uri, out_uri=f"{work_uri}/datasets/{folder}", revision=revision,
        runtime=settings.runtime,
    ).set_display_name(f"dataset: {bench}")
    predict_task = predict(
        model=model, dataset=dataset.outputs["dataset"], batch_size=ev.batch_size,
        max_new_tokens=ev.max_new_tokens, limit=eval_limit,
    ).set_display_name(f"evaluate: predict {bench}")
    rules = {"empty": ev.reasonseg_empty, "ignore": ev.reasonseg_ignore} if bench == "reasonseg" else {}
    score = evaluate(
        bench=bench, dataset=dataset.outputs["dataset"], predictions=predict_task.outputs["predictions"], **rules
    ).set_display_name(f"evaluate: score {bench}")
    return Bench(dataset, predict_task, score)


def _chain(settings: PipelineSettings) -> Callable:
    """The steps after the data source, as a function of the pipeline's run-time parameters."""
    reg, dep = settings.register, settings.deploy
    gpu = gpu_settings(settings.preset)

    def chain(work_uri, sources: Sources, eval_limit, sft_overrides, grpo_overrides) -> Outputs:
        train = prepare_dataset(
            source=settings.data.train_source, from_uri=sources.train_from, out_uri=f"{work_uri}/datasets/train",
            revision=sources.revision, runtime=settings.runtime,
        ).set_display_name("dataset: train")
        mix, mixed = settings.data.mix_in, None
        if mix:
            mixed = prepare_dataset(
                source=mix.source, from_uri=sources.mix_from, out_uri=f"{work_uri}/datasets/train-{mix.source}",
                revision=sources.mix_revision, runtime=settings.runtime,
            ).set_display_name(f"dataset: train {mix.source}")
        sft_task = sft(
            config=settings.preset, output=f"{work_uri}/sft", overrides=sft_overrides,
            dataset=train.outputs["dataset"], runtime=settings.runtime, launcher=settings.step_launcher,
            weights=settings.data.sft_weights, **({"mix_dataset": mixed.outputs["dataset"]} if mixed else {}),
        ).set_display_name("sft")
        grpo_task = grpo(
            config=settings.preset, output=f"{work_uri}/grpo", overrides=grpo_overrides,
            dataset=train.outputs["dataset"], init_model=sft_task.outputs["model"], runtime=settings.runtime,
            launcher=settings.step_launcher,
        ).set_display_name("grpo")
        model = grpo_task.outputs["model"]
        vrt = _benchmark(settings, "vrt-bench", sources.bench_from, sources.revision, work_uri, model, eval_limit)
        rs = _benchmark(
            settings, "reasonseg", sources.reasonseg_from, sources.reasonseg_revision, work_uri, model, eval_limit
        )
        registered = register(
            model=model, metrics=vrt.score.outputs["metrics"], dataset=train.outputs["dataset"],
            bench_dataset=vrt.dataset.outputs["dataset"], reasonseg_metrics=rs.score.outputs["metrics"],
            reasonseg_dataset=rs.dataset.outputs["dataset"], model_name=settings.model_name, primary=reg.primary,
            margin=reg.margin, guards=reg.gate().guard_spec(), tolerance=reg.tolerance,
            pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ).set_display_name("register")
        served = deploy(
            model_uri=registered.outputs["model_uri"], mode=settings.runtime, name=dep.name,
            namespace=dep.namespace, canary_percent=dep.canary_percent, deployment_mode=dep.deployment_mode,
            gpus=gpu["accelerator_limit"], timeout_s=dep.timeout_s,
        ).set_display_name("deploy")
        data_tasks = (train, *([mixed] if mixed else []))
        _hygiene(settings, gpu, data_tasks, (vrt, rs), sft_task, grpo_task, registered, served)
        return Outputs(
            endpoint=served.output, model_uri=registered.outputs["model_uri"], alias=registered.outputs["alias"],
            metrics=vrt.score.outputs["metrics"], report=vrt.score.outputs["report"],
            reasonseg_metrics=rs.score.outputs["metrics"], reasonseg_report=rs.score.outputs["report"],
        )

    return chain


def _hygiene(settings: PipelineSettings, gpu: dict, train_data: tuple, benches: tuple[Bench, ...], sft_task,
             grpo_task, registered, served) -> None:
    """Caching, retries, sizing, platform env and GPU placement of every task of the chain (`train_data`:
    the SFT sources' dataset tasks)."""
    datasets = (*train_data, *(b.dataset for b in benches))
    for task in (*datasets, *(b.score for b in benches)):
        task.set_retry(num_retries=3, backoff_duration="30s", backoff_factor=2.0, backoff_max_duration="600s")
    for b in benches:
        b.predict.set_retry(num_retries=2, backoff_duration="60s", backoff_factor=2.0, backoff_max_duration="600s")
    # Side effects (registry, serving) and training never come from the cache unless a run asks
    # (`settings.cache_training`): a cached GRPO step would reuse last week's model silently.
    for task in (registered, served, *(() if settings.cache_training else (sft_task, grpo_task))):
        task.set_caching_options(False)
    kinds = [(t, "launcher") for t in (*datasets, sft_task, grpo_task, served)]
    kinds += [(t, "evaluate") for b in benches for t in (b.predict, b.score)] + [(registered, "register")]
    for task, kind in kinds:
        _finish(settings, task, kind)
    if settings.runtime == "kubernetes":
        for task in datasets:  # the conversion itself runs in the RayJob (its raw cache is on S3)
            kubernetes.empty_dir_mount(task, volume_name="scratch", mount_path="/tmp", size_limit=LAUNCHER_SCRATCH)
        kubernetes.add_pod_label(served, "vrt.io/role", "deployer")  # admitted by the predictor's NetworkPolicy
    for task in (sft_task, grpo_task, *(b.predict for b in benches)):
        place_on_gpus(task, gpu)
