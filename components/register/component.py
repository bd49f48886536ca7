"""KFP step `register`: log the trained model as an MLflow model, register it, gate its promotion to `champion`.

Returns (model_uri, alias): `models:/NAME/VERSION` and 'champion' or 'challenger'; the gate's
reason is a tag on the version. Compose it in a pipeline (`register(...).outputs["model_uri"]`).
"""

from typing import NamedTuple

from kfp import dsl

from components.images import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def register(
    model: dsl.Input[dsl.Model],
    metrics: dsl.Input[dsl.Metrics],
    dataset: dsl.Input[dsl.Dataset],
    model_name: str,
    bench_dataset: dsl.Input[dsl.Dataset] = None,
    reasonseg_metrics: dsl.Input[dsl.Metrics] = None,
    reasonseg_dataset: dsl.Input[dsl.Dataset] = None,
    primary: str = "vrt_bench/A-mIoU",
    margin: float = 0.01,
    guards: str = "vrt_bench/R-LQ",
    tolerance: float = 0.02,
    pipeline_run_id: str = "",
) -> NamedTuple("RegisterOutputs", [("model_uri", str), ("alias", str)]):
    """Register `model` (with `metrics` and dataset lineage) as a version of `model_name`; gate it.

    Args:
        model: Model manifest of the training step (uri, sha256, lineage).
        metrics: VRT-Bench metrics of its evaluate step (registered as vrt_bench/<name>).
        dataset: Training Dataset pointer (logged as the model's training input).
        model_name: Registered model name in MLflow (e.g. vrt-4b).
        bench_dataset: VRT-Bench Dataset pointer (logged as the evaluation input).
        reasonseg_metrics: ReasonSeg metrics of its evaluate step (registered as reasonseg/<name>).
        reasonseg_dataset: ReasonSeg Dataset pointer (logged as the evaluation-reasonseg input).
        primary: Metric (benchmark/name, e.g. vrt_bench/A-mIoU) that must beat the champion's by `margin`.
        margin: Required gain of `primary` over the champion.
        guards: Comma-separated metrics of either benchmark that may not drop by more than their
            allowed drop: `name` (then `tolerance`) or `name=drop`, e.g. vrt_bench/R-LQ,reasonseg/gIoU=0.02.
        tolerance: Allowed drop of a guard metric given without its own.
        pipeline_run_id: KFP run id, recorded as lineage.
    """
    from pathlib import Path

    from components.register.gate import GateConfig
    from components.register.step import artifact_values, register_model
    from evaluation.score import namespaced
    from vrt.k8s.platform import check_step_env

    check_step_env()
    datasets = {"training": {"uri": dataset.uri, **artifact_values(dataset.path, dataset.metadata)}}
    values = namespaced("vrt-bench", artifact_values(metrics.path, metrics.metadata))
    for role, pointer in (("evaluation", bench_dataset), ("evaluation-reasonseg", reasonseg_dataset)):
        if pointer is not None:
            datasets[role] = {"uri": pointer.uri, **artifact_values(pointer.path, pointer.metadata)}
    if reasonseg_metrics is not None:
        values.update(namespaced("reasonseg", artifact_values(reasonseg_metrics.path, reasonseg_metrics.metadata)))
    result = register_model(
        Path(model.path),
        values,
        model_name,
        GateConfig.from_values(primary, margin, guards, tolerance),
        datasets=datasets,
        pipeline_run_id=pipeline_run_id,
    )
    return (result.model_uri, result.alias)
