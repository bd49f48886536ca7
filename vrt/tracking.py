"""MLflow tracking: where runs go, and one run per pipeline step nested under the pipeline's run.

Local default: SQLite at `.vrt/mlflow.db` with artifacts under `.vrt/mlartifacts` (no server);
any `MLFLOW_TRACKING_URI` (a server from the Helm chart, say) overrides it. Inside a Kubernetes
pod there is no local default: a missing `MLFLOW_TRACKING_URI` is an error (the pipeline reads
it from the chart's ConfigMap), never runs logged into a SQLite file that dies with the pod. A pipeline run
opens a parent run and passes its id to steps as `VRT_PARENT_RUN_ID`; each step's run is a
child of it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

EXPERIMENT = "vrt"
LOCAL_DIR = Path(".vrt")


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI`, or (off a cluster) the local SQLite store under `.vrt/`."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    from vrt.k8s import platform

    platform.check_step_env()  # on a cluster: raises, naming the ConfigMap that should have set it
    return f"sqlite:///{(LOCAL_DIR / 'mlflow.db').resolve()}"


def configure() -> str:
    """Point mlflow at tracking_uri() and make sure the experiment exists; returns the experiment id."""
    import mlflow

    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    name = os.environ.get("VRT_EXPERIMENT", EXPERIMENT)
    exp = mlflow.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    artifact_location = None
    if uri.startswith("sqlite:"):
        LOCAL_DIR.mkdir(exist_ok=True)
        artifact_location = (LOCAL_DIR / "mlartifacts").resolve().as_uri()
    try:
        return mlflow.create_experiment(name, artifact_location=artifact_location)
    except mlflow.exceptions.MlflowException:  # created concurrently by another step
        return mlflow.get_experiment_by_name(name).experiment_id


@contextmanager
def step_run(step: str, params: dict | None = None, tags: dict | None = None) -> Iterator:
    """An MLflow run for one step, nested under `VRT_PARENT_RUN_ID` when set."""
    import mlflow

    experiment_id = configure()
    parent = os.environ.get("VRT_PARENT_RUN_ID")
    all_tags = {"vrt.step": step, **(tags or {})}
    if parent:
        all_tags["mlflow.parentRunId"] = parent
    with mlflow.start_run(experiment_id=experiment_id, run_name=step, tags=all_tags) as run:
        if params:
            mlflow.log_params({k: str(v)[:6000] for k, v in params.items()})
        yield run
