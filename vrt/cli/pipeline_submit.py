"""`vrt pipeline submit`: compile a preset (or take a compiled package) and run it on a KFP cluster.

    vrt pipeline submit --host https://kfp.example.org --preset 4b --wait

`register(app)` adds the command to the `vrt pipeline` group (vrt/cli/pipeline.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from vrt.console import console
from vrt.errors import UserError


def submit(
    host: str = typer.Option(..., "--host", envvar="KFP_HOST", help="KFP API/UI URL, e.g. https://kfp.example.org."),
    experiment: str = typer.Option("vrt", "--experiment", help="KFP experiment (created when missing)."),
    namespace: str = typer.Option(None, "--namespace", help="Profile namespace (multi-user KFP)."),
    preset: str = typer.Option("tiny", "--preset", help="Preset to compile (pipelines/presets/)."),
    package: Path = typer.Option(None, "--package", help="Submit this compiled YAML instead of compiling --preset."),
    param: list[str] = typer.Option([], "--param", help="Pipeline parameter name=value (repeatable)."),
    run_name: str = typer.Option(None, "--run-name", help="Run name (default vrt-train-<preset>)."),
    service_account: str = typer.Option("vrt-pipeline-runner", "--service-account", help="Service account of the run's pods."),
    recurring: str = typer.Option(None, "--recurring", help="6-field cron (seconds first): create a recurring run."),
    wait: bool = typer.Option(False, "--wait", help="Follow the run's state until it finishes."),
    poll_seconds: float = typer.Option(10.0, "--poll-seconds", help="How often --wait polls."),
    timeout: float = typer.Option(86400.0, "--timeout", help="How long --wait waits, in seconds."),
    token: str = typer.Option(None, "--token", envvar="KFP_TOKEN", help="Bearer token (default: kubeconfig credentials)."),
) -> None:
    """Submit the pipeline to Kubeflow Pipelines and print the run's URL.

    Example: vrt pipeline submit --host https://kfp.example.org --preset 4b --param revision=0123456789abcdef0123456789abcdef01234567 --wait
    """
    from pipelines import submit as sub

    if recurring and wait:
        raise UserError("--wait follows one run; a --recurring run starts runs on its schedule: drop one of them")
    try:
        opts = sub.SubmitOptions(
            host=host, experiment=experiment, namespace=namespace, run_name=run_name or f"vrt-train-{preset}",
            params=sub.parse_run_params(param), service_account=service_account, recurring=recurring,
        )
    except ValueError as e:
        raise UserError(str(e)) from e
    client = sub.connect(host, namespace, token or sub.kubeconfig_token())
    with tempfile.TemporaryDirectory(prefix="vrt-submit-") as tmp:
        path = package if package is not None else _compile(preset, Path(tmp))
        try:
            made = sub.submit(client, path, opts)
        except ValueError as e:
            raise UserError(str(e)) from e
    typer.echo(made.url)
    console.print(f"created {made.kind} {made.id} in experiment {experiment!r}", highlight=False)
    if wait:
        _follow(client, made.id, poll_seconds, timeout)


def _compile(preset: str, tmp: Path) -> Path:
    from pipelines.compile import compile_pipeline

    with console.status(f"compiling preset {preset}"):
        return compile_pipeline(preset, tmp / f"vrt_train_{preset}.yaml")


def _follow(client, run_id: str, poll_seconds: float, timeout: float) -> None:
    from pipelines.submit import watch_run

    try:
        state = watch_run(client, run_id, lambda line: console.print(line, highlight=False), poll_seconds, timeout)
    except TimeoutError as e:
        raise UserError(str(e)) from e
    if state != "SUCCEEDED":
        console.print(f"[red]run {run_id} ended {state}[/red]")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `submit` to the `vrt pipeline` group."""
    app.command(name="submit")(submit)
