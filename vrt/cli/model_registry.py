"""`vrt model list|show|promote|rollback`: the MLflow model registry, through aliases.

`register(app)` adds the commands to the `vrt model` group. The registry is the local SQLite
store under `.vrt/` unless `MLFLOW_TRACKING_URI` is set.

    vrt model list vrt-tiny
    vrt model promote vrt-tiny 3 --force --reason "hotfix for #12"
"""

from __future__ import annotations

import json

import typer

# The pipeline's default gate (pipelines/settings.py RegisterSettings; tests/pipelines/test_settings.py pins it).
GATE_DEFAULTS = {
    "primary": "vrt_bench/A-mIoU",
    "margin": 0.01,
    "guards": "vrt_bench/R-LQ=0.02,reasonseg/gIoU=0.02,reasonseg/cIoU=0.02",
    "tolerance": 0.02,
}


def list_cmd(name: str = typer.Argument("", help="Registered model name; empty lists all models.")) -> None:
    """List registered models, or the versions of NAME with aliases and metrics.

    Example: vrt model list vrt-tiny
    """
    from rich.console import Console
    from rich.table import Table

    from components.register import registry

    out = Console()
    if not name:
        table = Table("model", "aliases")
        for model, aliases in registry.list_models():
            table.add_row(model, ", ".join(f"{a}={v}" for a, v in sorted(aliases.items())))
        out.print(table)
        return
    table = Table("version", "aliases", "metrics", "gate", "git commit")
    for v in registry.list_versions(name):
        metrics = " ".join(f"{k}={val:.4g}" for k, val in sorted(v.metrics.items()))
        table.add_row(
            v.version,
            ",".join(v.aliases),
            metrics,
            v.tags.get("vrt.gate", ""),
            v.tags.get("vrt.git_commit", ""),
        )
    out.print(table)


def show(
    name: str = typer.Argument(..., help="Registered model name."),
    ref: str = typer.Argument("champion", help="Version number or alias."),
) -> None:
    """Show one version (default: the champion) as JSON: aliases, metrics, lineage tags, source.

    Example: vrt model show vrt-tiny 3
    """
    from components.register import registry

    v = registry.get_version(name, ref)
    doc = {
        "uri": v.uri,
        "aliases": list(v.aliases),
        "metrics": v.metrics,
        "tags": v.tags,
        "source": v.source,
        "run_id": v.run_id,
        "champion_history": registry.history(name),
    }
    typer.echo(json.dumps(doc, indent=2, sort_keys=True))


def promote(
    name: str = typer.Argument(..., help="Registered model name."),
    version: str = typer.Argument(..., help="Version number to promote."),
    force: bool = typer.Option(False, "--force", help="Skip the gate (needs --reason)."),
    reason: str = typer.Option("", "--reason", help="Why (recorded in the champion history)."),
    primary: str = typer.Option(GATE_DEFAULTS["primary"], help="Primary metric (benchmark/name) that must improve."),
    margin: float = typer.Option(GATE_DEFAULTS["margin"], help="Required gain of the primary metric."),
    guards: str = typer.Option(
        GATE_DEFAULTS["guards"], help="Comma-separated guard metrics of either benchmark, each name or name=drop."
    ),
    tolerance: float = typer.Option(GATE_DEFAULTS["tolerance"], help="Allowed drop of a guard given without one."),
) -> None:
    """Make VERSION the champion if it passes the gate against the current champion (or with --force).

    Example: vrt model promote vrt-tiny 3 --margin 0.02
    """
    from components.register import registry
    from components.register.gate import GateConfig
    from vrt.console import console
    from vrt.errors import UserError

    try:
        cfg = GateConfig.from_values(primary, margin, guards, tolerance)
    except ValueError as e:
        raise UserError(str(e)) from e
    decision = registry.promote(name, version, cfg, force=force, reason=reason)
    console.print(f"{name} version {version} is now the champion: {decision.reason}")


def rollback(name: str = typer.Argument(..., help="Registered model name.")) -> None:
    """Point `champion` back at the previous champion (the champion history is kept in tags).

    Example: vrt model rollback vrt-tiny
    """
    from components.register import registry
    from vrt.console import console

    old, new = registry.rollback(name)
    console.print(f"{name}: champion moved from version {old} back to version {new}")


def register(app: typer.Typer) -> None:
    """Add list/show/promote/rollback to the `vrt model` typer group."""
    app.command(name="list")(list_cmd)
    app.command(name="show")(show)
    app.command(name="promote")(promote)
    app.command(name="rollback")(rollback)
