"""Submit a compiled VRT pipeline to a Kubeflow Pipelines API server and follow the run.

Used by `vrt pipeline submit` (vrt/cli/pipeline_submit.py):

    vrt pipeline submit --host https://kfp.example.org --preset 4b --param revision=0123456789abcdef0123456789abcdef01234567 --wait

Talks to the KFP v2beta1 REST API through `kfp.Client`: finds or creates the experiment, then
creates a run (or, with a cron expression, a recurring run) from the compiled package, with the
runtime parameters checked against the pipeline's declared inputs. Credentials: a bearer token
given explicitly, else the current kubeconfig user's (static token or exec plugin), else none.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TERMINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELED"})
DEFAULT_SERVICE_ACCOUNT = "vrt-pipeline-runner"  # created by charts/vrt-platform


@dataclass(frozen=True)
class SubmitOptions:
    """What to submit where; validated on construction."""

    host: str
    experiment: str = "vrt"
    namespace: str | None = None
    run_name: str = "vrt-train"
    params: Mapping[str, Any] = field(default_factory=dict)
    service_account: str = DEFAULT_SERVICE_ACCOUNT
    recurring: str | None = None

    def __post_init__(self) -> None:
        if not self.host.startswith(("http://", "https://")):
            raise ValueError(f"--host {self.host!r} must be a URL such as https://kfp.example.org")
        if not self.experiment.strip():
            raise ValueError("--experiment must not be empty")
        if self.recurring is not None:
            check_cron(self.recurring)


@dataclass(frozen=True)
class Submission:
    """A created run or recurring run and its page in the KFP UI."""

    kind: str  # "run" or "recurring run"
    id: str
    url: str


def check_cron(expression: str) -> str:
    """KFP schedules with 6-field cron (seconds first, robfig/cron); explain anything else."""
    fields = expression.split()
    if len(fields) == 5:
        raise ValueError(
            f"--recurring {expression!r} has 5 fields; KFP cron has 6 with seconds first: use '0 {expression}'"
        )
    if len(fields) != 6:
        raise ValueError(f"--recurring {expression!r} must have 6 fields: second minute hour day month weekday")
    return expression


def parse_run_params(items: Iterable[str]) -> dict[str, Any]:
    """`name=value` pairs; values are YAML scalars (8 -> int, 0.5 -> float, true -> bool)."""
    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--param {item!r} is not name=value (example: --param eval_limit=32)")
        out[name.strip()] = yaml.safe_load(value) if value else ""
    return out


def pipeline_inputs(package: Path) -> dict[str, str]:
    """Root input parameters (name -> KFP type) declared by a compiled pipeline package."""
    try:
        docs = [d for d in yaml.safe_load_all(Path(package).read_text()) if d]
    except (OSError, yaml.YAMLError) as e:
        raise ValueError(f"cannot read the pipeline package {package}: {e}") from e
    spec = next((d for d in docs if "pipelineInfo" in d and "root" in d), None)
    if spec is None:
        raise ValueError(f"{package} is not a KFP pipeline package (no pipelineInfo/root); compile one first")
    params = spec["root"].get("inputDefinitions", {}).get("parameters", {})
    return {name: p.get("parameterType", "STRING") for name, p in params.items()}


def check_params(params: Mapping[str, Any], inputs: Mapping[str, str]) -> None:
    unknown = sorted(set(params) - set(inputs))
    if unknown:
        raise ValueError(f"unknown pipeline parameter(s) {', '.join(unknown)}; the pipeline takes: {', '.join(sorted(inputs))}")


def kubeconfig_token(context: str | None = None) -> str | None:
    """Bearer token of the current kubeconfig user (static or from its exec plugin), or None."""
    from kubernetes import client, config

    cfg = client.Configuration()
    path = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        config.load_kube_config(config_file=path, context=context, client_configuration=cfg)
    except (config.ConfigException, OSError, TypeError):
        return None
    auth = cfg.api_key.get("authorization") or cfg.api_key.get("BearerToken")
    return auth.removeprefix("Bearer ").strip() if auth else None


def connect(host: str, namespace: str | None, token: str | None):
    """A `kfp.Client` for `host`, sending `token` as a bearer token when given."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        import kfp

        kwargs = {"namespace": namespace} if namespace else {}
        with contextlib.redirect_stdout(sys.stderr):
            return kfp.Client(host=host.rstrip("/"), existing_token=token or None, **kwargs)


def submit(client, package: Path, opts: SubmitOptions) -> Submission:
    """Create the experiment if needed, then a run (or recurring run) of `package`."""
    check_params(opts.params, pipeline_inputs(package))
    host = opts.host.rstrip("/")
    with contextlib.redirect_stdout(sys.stderr):  # kfp prints its own links; stdout is the run URL only
        experiment = client.create_experiment(name=opts.experiment, namespace=opts.namespace)
        common = {
            "experiment_id": experiment.experiment_id,
            "job_name": opts.run_name,
            "pipeline_package_path": str(package),
            "params": dict(opts.params),
            "service_account": opts.service_account or None,
        }
        if opts.recurring:
            job = client.create_recurring_run(cron_expression=opts.recurring, max_concurrency=1, no_catchup=True, **common)
            return Submission("recurring run", job.recurring_run_id, f"{host}/#/recurringrun/details/{job.recurring_run_id}")
        run = client.run_pipeline(**common)
    return Submission("run", run.run_id, f"{host}/#/runs/details/{run.run_id}")


def _describe(run) -> tuple[str, dict[str, str]]:
    state = str(run.state or "RUNTIME_STATE_UNSPECIFIED")
    tasks = {}
    for task in (run.run_details.task_details or []) if run.run_details else []:
        if task.display_name:
            tasks[task.display_name] = str(task.state or "PENDING")
    return state, tasks


def watch_run(
    client, run_id: str, on_change: Callable[[str], None], poll_s: float = 10.0, timeout_s: float = 86400.0
) -> str:
    """Poll the run until it reaches a terminal state, calling `on_change` for each new state; return it."""
    deadline = time.monotonic() + timeout_s
    seen_state, seen_tasks = None, {}
    while True:
        state, tasks = _describe(client.get_run(run_id))
        if state != seen_state:
            on_change(f"run {run_id}: {state}")
            seen_state = state
        for name, task_state in sorted(tasks.items()):
            if seen_tasks.get(name) != task_state:
                on_change(f"  {name}: {task_state}")
        seen_tasks = tasks
        if state in TERMINAL_STATES:
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {state} after {timeout_s:.0f}s; it keeps running on the cluster")
        time.sleep(poll_s)
