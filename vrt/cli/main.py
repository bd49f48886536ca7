"""`vrt`: the VRT platform's command line.

    vrt --help
    vrt data synth --out data/raw          # generated dataset in the real source layouts
    vrt pipeline run --local                # the whole chain on this machine
"""

from __future__ import annotations

import sys

import typer

from vrt.cli import data, model, model_registry, pipeline, serve, train
from vrt.cli import eval as eval_cli
from vrt.console import console
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


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a UserError becomes one line on stderr and exit code 2."""
    try:
        app(args=argv, standalone_mode=False)
    except UserError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as e:  # click usage errors carry their own exit code (2)
        import click

        if isinstance(e, click.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise


if __name__ == "__main__":
    main()
