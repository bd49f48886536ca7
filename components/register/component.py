"""KFP step `register`: register the trained model in MLflow and gate its promotion to `champion`.

Returns (model_uri, alias): `models:/NAME/VERSION` and 'champion' or 'challenger'; the gate's
reason is a tag on the version. Compose it in a pipeline (`register(...).outputs["model_uri"]`).
"""

from typing import NamedTuple

from kfp import dsl

from components.images import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE)
def register(
    model: dsl.Input[dsl.Model],
    metrics: dsl.Input[dsl.Metrics],
    dataset: dsl.Input[dsl.Dataset],
    model_name: str,
    primary: str = "A-mIoU",
    margin: float = 0.01,
    guards: str = "R-LQ",
    tolerance: float = 0.02,
    pipeline_run_id: str = "",
) -> NamedTuple("RegisterOutputs", [("model_uri", str), ("alias", str)]):
    """Register `model` (with `metrics` and `dataset` lineage) as a version of `model_name`; gate it."""
    from pathlib import Path

    from components.register.gate import GateConfig
    from components.register.step import artifact_values, register_model

    result = register_model(
        Path(model.path),
        artifact_values(metrics.path, metrics.metadata),
        model_name,
        GateConfig.from_values(primary, margin, guards, tolerance),
        dataset={"uri": dataset.uri, **artifact_values(dataset.path, dataset.metadata)},
        pipeline_run_id=pipeline_run_id,
    )
    return (result.model_uri, result.alias)
