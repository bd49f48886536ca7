"""Run a preset's pipeline on this machine: kfp.local SubprocessRunner, local Ray, MLflow on SQLite.

    vrt pipeline run --local --preset tiny

Every step runs as a subprocess of this one, in this Python environment. One MLflow parent run
covers the pipeline run; steps open child runs under it (VRT_PARENT_RUN_ID).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from pipelines.logwatch import quiet_steps
from pipelines.settings import PipelineSettings, load_settings
from vrt import tracking
from vrt.console import console
from vrt.errors import UserError


@dataclass(frozen=True)
class LocalRun:
    work_uri: str
    pipeline_root: str
    mlflow_run_id: str
    seconds: float
    endpoint: str  # the model server's base URL (left running on loopback)
    model_uri: str  # models:/NAME/VERSION
    alias: str  # champion or challenger
    metrics_path: str  # flat VRT-Bench metrics JSON of its evaluate step
    report_path: str  # its report.html
    server_name: str
    reasonseg_metrics_path: str  # the same for ReasonSeg
    reasonseg_report_path: str


def run_local(
    preset: str, overrides: dict | None = None, work_uri: str | None = None, verbose: bool = False
) -> LocalRun:
    """Run the whole pipeline locally and return where its outputs are.

    The steps' logs go to `.vrt/logs/pipeline-<time>.log` (to the terminal with `verbose`).
    """
    from kfp import local

    values = dict(overrides or {})
    if work_uri:
        values["work_uri"] = work_uri
    settings = load_settings(preset, values)
    work = settings.work_uri
    if "://" not in work:
        work = str(Path(work).resolve())
        Path(work).mkdir(parents=True, exist_ok=True)
    pipeline_root = str(Path(tracking.LOCAL_DIR, "kfp").resolve())
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=pipeline_root, raise_on_error=True)
    # kfp.local warns that display names and container images have no effect in a subprocess: by design here.
    warnings.filterwarnings("ignore", message=".*(have no effect in the current local runner|non-Python base image).*")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    saved_uri = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = tracking.tracking_uri()  # the steps (subprocesses) share this store
    try:
        return _run(settings, preset, work, pipeline_root, verbose)
    finally:
        if saved_uri is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)


def _run(settings: PipelineSettings, preset: str, work: str, pipeline_root: str, verbose: bool) -> LocalRun:
    """The pipeline under one MLflow parent run whose id the steps read from VRT_PARENT_RUN_ID."""
    import mlflow

    from pipelines.vrt_train import build_pipeline

    experiment_id = tracking.configure()
    start = time.monotonic()
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"pipeline-{preset}", tags={"vrt.preset": preset}) as run:
        os.environ["VRT_PARENT_RUN_ID"] = run.info.run_id
        log_path = Path(tracking.LOCAL_DIR, "logs", f"pipeline-{time.strftime('%Y%m%d-%H%M%S')}.log").resolve()
        if not verbose:
            console.print(f"running pipeline vrt-train-{preset}; step logs: {log_path}")
        try:
            with nullcontext() if verbose else quiet_steps(log_path):
                outputs = build_pipeline(settings)(work_uri=work).outputs
        except RuntimeError as e:
            raise UserError(f"pipeline failed ({e}); see the step logs in {log_path}") from e
        finally:
            os.environ.pop("VRT_PARENT_RUN_ID", None)
    return LocalRun(
        work, pipeline_root, run.info.run_id, time.monotonic() - start, outputs["endpoint"], outputs["model_uri"],
        outputs["alias"], outputs["metrics"].path, outputs["report"].path, settings.deploy.name,
        outputs["reasonseg_metrics"].path, outputs["reasonseg_report"].path,
    )
