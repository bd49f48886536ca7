"""`vrt serve`: run the model server on loopback."""

import typer


def serve(model: str = typer.Option(..., "--model", help="Model URI: directory, s3://..., or models:/NAME@ALIAS.")) -> None:
    """Serve a model over HTTP (KServe v1 and v2 protocols) on loopback."""
    raise typer.Exit(1)
