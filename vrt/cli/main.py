"""`vrt`: the VRT platform's command line.

    vrt --help
    vrt data synth --out data/raw          # generated dataset in the real source layouts
    vrt pipeline run --local                # the whole chain on this machine

Every usage error (unknown command or option, missing option, bad value), every UserError and every
environment failure the user can fix (a file in the way, an unreachable endpoint, invalid YAML) is one
line on stderr, printed literally, with exit code 2. Bare `vrt` (or a bare command group) prints help.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from typer._click import exceptions as click_errors

from vrt.cli import data, model, model_registry, pipeline, serve, train
from vrt.cli import eval as eval_cli
from vrt.errors import UserError

app = typer.Typer(
    name="vrt",
    help="Train, evaluate and serve grounded visual-reasoning models (VRT). Run `vrt COMMAND --help`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data.app, name="data")
app.add_typer(eval_cli.app, name="eval")
model_registry.register(model.app)
app.add_typer(model.app, name="model")
app.add_typer(train.app, name="train")
app.add_typer(pipeline.app, name="pipeline")
app.command(name="serve")(serve.serve)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        return package_version("vrt-platform")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"vrt {version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", is_eager=True, callback=_show_version
    ),
) -> None:
    """Train, evaluate and serve grounded visual-reasoning models (VRT). Run `vrt COMMAND --help`."""


def fail(message: str) -> NoReturn:
    """`error: MESSAGE` on one line of stderr (whitespace collapsed, no markup), exit code 2."""
    sys.stderr.write(f"error: {' '.join(str(message).split())}\n")
    sys.stderr.flush()
    sys.exit(2)


def _usage_message(e: click_errors.ClickException) -> str:
    hint = ""
    ctx = getattr(e, "ctx", None)
    if ctx is not None:
        hint = f" (see `{ctx.command_path} --help`)"
    return f"{e.format_message()}{hint}"


def _environment_error(e: Exception) -> str | None:
    """A one-line message for failures the user fixes outside the code (files, network, YAML); else None."""
    import yaml

    if isinstance(e, yaml.YAMLError):
        return f"invalid YAML: {e}"
    if isinstance(e, OSError):
        name = f" {e.filename}" if getattr(e, "filename", None) else ""
        return f"{e.strerror or e}{':' + name if name else ''}"
    module = type(e).__module__.split(".")[0]
    if module in ("botocore", "boto3", "urllib3", "requests", "kfp_server_api"):
        return f"cannot reach the service: {e}"
    return None


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (see the module docstring for how errors end)."""
    try:
        code = app(args=argv, prog_name="vrt", standalone_mode=False)
    except click_errors.NoArgsIsHelpError as e:
        typer.echo(e.format_message())
        sys.exit(0)
    except click_errors.ClickException as e:
        fail(_usage_message(e))
    except UserError as e:
        if "\n" in str(e).strip():
            _multiline(str(e).strip())
        fail(str(e))
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.stderr.write("aborted\n")
        sys.exit(130)
    except Exception as e:
        message = _environment_error(e)
        if message is None:
            raise
        fail(message)
    if isinstance(code, int) and code:
        sys.exit(code)


def _multiline(message: str) -> NoReturn:
    """A UserError that carries a log excerpt: its first line as the error, the rest verbatim after it."""
    first, rest = message.split("\n", 1)
    sys.stderr.write(f"error: {first}\n{rest}\n")
    sys.exit(2)


if __name__ == "__main__":
    main()
