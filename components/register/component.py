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
    primary: str = "A-mIoU",
    margin: float = 0.01,
    guards: str = "R-LQ",
    tolerance: float = 0.02,
    pipeline_run_id: str = "",
) -> NamedTuple("RegisterOutputs", [("model_uri", str), ("alias", str)]):
    """Register `model` (with `metrics` and dataset lineage) as a version of `model_name`; gate it.

    Args:
        model: Model manifest of the training step (uri, sha256, lineage).
        metrics: Evaluation metrics of the evaluate step (the gate reads `primary` and `guards`).
        dataset: Training Dataset pointer (logged as the model's training input).
        model_name: Registered model name in MLflow (e.g. vrt-4b).
        bench_dataset: Benchmark Dataset pointer (logged as the evaluation input).
        primary: Metric that must beat the champion's by `margin`.
        margin: Required gain of `primary` over the champion.
        guards: Comma-separated metrics that may not drop by more than `tolerance`.
        tolerance: Allowed drop of each guard metric.
        pipeline_run_id: KFP run id, recorded as lineage.
    """
    from pathlib import Path

    from components.register.gate import GateConfig
    from components.register.step import artifact_values, register_model
    from vrt.k8s.platform import check_step_env

    check_step_env()
    datasets = {"training": {"uri": dataset.uri, **artifact_values(dataset.path, dataset.metadata)}}
    if bench_dataset is not None:
        datasets["evaluation"] = {"uri": bench_dataset.uri, **artifact_values(bench_dataset.path, bench_dataset.metadata)}
    result = register_model(
        Path(model.path),
        artifact_values(metrics.path, metrics.metadata),
        model_name,
        GateConfig.from_values(primary, margin, guards, tolerance),
        datasets=datasets,
        pipeline_run_id=pipeline_run_id,
    )
    return (result.model_uri, result.alias)
