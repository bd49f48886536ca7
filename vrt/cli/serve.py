"""`vrt serve`: run the model server (KServe v1 + v2 REST) in the foreground on loopback.

vrt serve --model models:/vrt-tiny@champion --port 8080
"""

from __future__ import annotations

import typer


def serve(
    model: str = typer.Option(..., "--model", help="Model URI: directory, s3://..., or models:/NAME@ALIAS."),
    port: int = typer.Option(8080, "--port", help="HTTP port."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback by default)."),
    name: str = typer.Option("vrt", "--name", help="Model name in the URL paths."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="Generation length limit."),
) -> None:
    """Serve a model over HTTP (KServe v1 and v2 protocols) until Ctrl-C.

    Example: vrt serve --model models:/vrt-tiny@champion --port 8080
    then: curl -s http://127.0.0.1:8080/v2/models/vrt/ready
    """
    from components.deploy.predictor import InferenceConfig
    from components.deploy.server import serve as run_server
    from vrt.console import console
    from vrt.errors import UserError

    try:
        inference = InferenceConfig(max_new_tokens)
    except ValueError as e:
        raise UserError(f"--max-new-tokens: {e}") from e
    console.print(f"loading {model} ...")
    run_server(model, host=host, port=port, name=name, inference=inference)
