"""`vrt pipeline ...` commands."""

import typer

app = typer.Typer(help="pipeline commands.", no_args_is_help=True)
