"""`vrt serve`: run the model server (KServe v1 + v2 REST) in the foreground on loopback.

vrt serve --model models:/vrt-tiny@champion --port 8080
vrt serve --stop vrt          # stop the server a local pipeline run left running
"""

from __future__ import annotations

import typer


def serve(
    model: str = typer.Option(None, "--model", help="Model URI: directory, s3://..., or models:/NAME@ALIAS."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="HTTP port (1-65535)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback by default)."),
    name: str = typer.Option("vrt", "--name", help="Model name in the URL paths."),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", min=1, help="Generation length limit."),
    stop: str = typer.Option(None, "--stop", help="Stop the background server of a local deploy named NAME."),
) -> None:
    """Serve a model over HTTP (KServe v1 and v2 protocols) until Ctrl-C.

    Example: vrt serve --model models:/vrt-tiny@champion --port 8080
    then: curl -s http://127.0.0.1:8080/v2/models/vrt/ready
    """
    from components.deploy.predictor import InferenceConfig
    from components.deploy.server import serve as run_server
    from vrt.console import console
    from vrt.errors import UserError

    if stop:
        from components.deploy.step import stop_local

        url = stop_local(stop)
        if url is None:
            raise UserError(f"no local deploy named {stop!r} is running (see .vrt/serve/)")
        console.print(f"stopped {stop} ({url})")
        return
    if not model:
        raise UserError("--model is required: a model directory, s3://BUCKET/PREFIX or models:/NAME@ALIAS")
    try:
        inference = InferenceConfig(max_new_tokens)
    except ValueError as e:
        raise UserError(f"--max-new-tokens: {e}") from e
    console.print(f"loading {model} ...")
    run_server(model, host=host, port=port, name=name, inference=inference)
