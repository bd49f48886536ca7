"""`vrt pipeline ...`: compile the KFP pipeline of a preset, run it locally, submit it to a cluster."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from vrt.cli import pipeline_submit
from vrt.errors import UserError

app = typer.Typer(help="Compile, run locally, or submit the VRT training pipeline.", no_args_is_help=True)


def parse_params(params: list[str]) -> dict:
    """`key=value` pairs; values are parsed as YAML scalars (8 -> int, true -> bool)."""
    out = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"--param {item!r} is not key=value (example: --param data.n_train=32)")
        out[key.strip()] = yaml.safe_load(value) if value else ""
    return out


@app.command()
def compile(
    out: Path = typer.Option(Path("vrt_train.yaml"), "--out", help="Where to write the KFP IR YAML."),
    preset: str = typer.Option("tiny", "--preset", help="Preset in pipelines/presets/ (tiny, 2b, 4b, 8b)."),
    param: list[str] = typer.Option([], "--param", help="Override a setting: key=value (repeatable)."),
) -> None:
    """Compile the pipeline of a preset to a KFP YAML file.

    Example: vrt pipeline compile --preset 4b --out vrt_train_4b.yaml
    """
    from pipelines.compile import compile_pipeline

    path = compile_pipeline(preset, out, parse_params(param))
    typer.echo(f"wrote {path}")


@app.command()
def run(
    local: bool = typer.Option(False, "--local", help="Run on this machine with kfp.local (required for now)."),
    preset: str = typer.Option("tiny", "--preset", help="Preset in pipelines/presets/."),
    work_uri: str = typer.Option(None, "--work-uri", help="Where datasets and models go (default .vrt/work)."),
    param: list[str] = typer.Option([], "--param", help="Override a setting: key=value (repeatable)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Stream the steps' full logs to the terminal."),
) -> None:
    """Run the pipeline. With --local: every step as a subprocess here, on generated data.

    Example: vrt pipeline run --local --param data.n_train=32
    """
    if not local:
        raise UserError("`vrt pipeline run` runs locally: add --local (use `vrt pipeline submit` for a cluster)")
    from pipelines.local import run_local
    from pipelines.summary import print_summary

    result = run_local(preset, parse_params(param), work_uri, verbose)
    print_summary(result)


pipeline_submit.register(app)
