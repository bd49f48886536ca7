"""The VRT training pipeline (KFP v2): dataset -> sft -> grpo -> predict -> evaluate -> register -> deploy.

Compile:  vrt pipeline compile --preset tiny --out vrt_train.yaml
Run here: vrt pipeline run --local            (kfp.local SubprocessRunner, generated data)

The pipeline is built per preset (`build_pipeline`): the preset decides where the data comes
from (generated for `tiny`, the Hugging Face datasets at pinned revisions otherwise), the
runtime (local Ray and a loopback server, or RayJobs and a KServe InferenceService) and the GPU
placement of every GPU step. All Kubernetes wiring is here, in `place_on_gpus`: the training
steps are CPU launchers whose RayJob workers get the GPU settings (KFP task-config
passthrough); the predict step uses its GPU in its own pod.
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


def place_on_gpus(task: dsl.PipelineTask, gpu: dict) -> None:
    """Accelerator type/limit, CPU/memory limits, node selector and tolerations of the GPU pool on `task`
    (no-op without GPUs)."""
    if not gpu["accelerator_limit"]:
        return
    task.set_accelerator_type(gpu["accelerator_type"]).set_accelerator_limit(gpu["accelerator_limit"])
    task.set_cpu_limit(gpu["cpu_limit"]).set_memory_limit(gpu["memory_limit"])
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
    """The pipeline function for one preset's settings."""
    data, ev, reg, dep = settings.data, settings.evaluate, settings.register, settings.deploy
    gpu = gpu_settings(settings.preset)

    @dsl.pipeline(
        name=f"vrt-train-{settings.preset}",
        description=f"VRT: dataset -> sft -> grpo -> evaluate -> register -> deploy (preset {settings.preset}).",
    )
    def vrt_train(
        work_uri: str = settings.work_uri,
        n_train: int = data.n_train,
        n_bench: int = data.n_bench,
        seed: int = data.seed,
        image_size: int = data.image_size,
    ) -> Outputs:
        if data.generated:
            raw = synth_data(
                out_uri=f"{work_uri}/raw", n_train=n_train, n_bench=n_bench, seed=seed, image_size=image_size
            ).set_display_name("generate data")
            train_from, bench_from = f"{raw.output}/{data.train_source}", f"{raw.output}/vrt-bench"
        else:
            train_from, bench_from = data.train_from, data.bench_from
        train = prepare_dataset(
            source=data.train_source, from_uri=train_from, out_uri=f"{work_uri}/datasets/train", revision=data.revision,
            runtime=settings.runtime,
        ).set_display_name("dataset: train")
        bench = prepare_dataset(
            source="vrt-bench", from_uri=bench_from, out_uri=f"{work_uri}/datasets/bench", revision=data.revision,
            runtime=settings.runtime,
        ).set_display_name("dataset: bench")
        sft_task = sft(
            config=settings.preset,
            overrides=[f"sft.output={work_uri}/sft"],
            dataset=train.outputs["dataset"],
            runtime=settings.runtime,
        ).set_display_name("sft")
        grpo_task = grpo(
            config=settings.preset,
            overrides=[f"grpo.output={work_uri}/grpo"],
            dataset=train.outputs["dataset"],
            init_model=sft_task.outputs["model"],
            runtime=settings.runtime,
        ).set_display_name("grpo")
        predict_task = predict(
            model=grpo_task.outputs["model"],
            dataset=bench.outputs["dataset"],
            batch_size=ev.batch_size,
            max_new_tokens=ev.max_new_tokens,
            limit=ev.limit,
        ).set_display_name("evaluate: predict")
        score = evaluate(
            bench="vrt-bench", dataset=bench.outputs["dataset"], predictions=predict_task.outputs["predictions"]
        ).set_display_name("evaluate: score")
        registered = register(
            model=grpo_task.outputs["model"],
            metrics=score.outputs["metrics"],
            dataset=train.outputs["dataset"],
            model_name=settings.model_name,
            primary=reg.primary,
            margin=reg.margin,
            guards=reg.guards,
            tolerance=reg.tolerance,
            pipeline_run_id=dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        ).set_display_name("register")
        served = deploy(
            model_uri=registered.outputs["model_uri"],
            mode=settings.runtime,
            name=dep.name,
            namespace=dep.namespace,
            canary_percent=dep.canary_percent,
            deployment_mode=dep.deployment_mode,
            gpus=gpu["accelerator_limit"],
            timeout_s=dep.timeout_s,
        ).set_display_name("deploy")
        for task in (sft_task, grpo_task, predict_task):
            place_on_gpus(task, gpu)
        return Outputs(
            endpoint=served.output,
            model_uri=registered.outputs["model_uri"],
            alias=registered.outputs["alias"],
            metrics=score.outputs["metrics"],
            report=score.outputs["report"],
        )

    return vrt_train
