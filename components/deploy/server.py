"""Run the predictor with `kserve.ModelServer` (REST v1 + v2) on a chosen host and port.

The container entry point of the serve image and the process behind `vrt serve`:

    python -m components.deploy.server --model_uri models:/vrt-tiny@champion --http_port 8080
    curl -s localhost:8080/v2/models/vrt/ready

The default host is loopback (127.0.0.1); the InferenceService passes `--host 0.0.0.0`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kserve import ModelServer

from components.deploy.payload import Limits
from components.deploy.predictor import InferenceConfig, VrtPredictor
from vrt.console import console


class HostModelServer(ModelServer):
    """kserve.ModelServer listening on `host` (kserve 0.21 binds 0.0.0.0 unless told otherwise here)."""

    def __init__(self, host: str, http_port: int) -> None:
        super().__init__(http_port=http_port, enable_grpc=False, workers=1)
        self.host = host

    async def _serve(self) -> None:
        self._rest_server.config.host = self.host
        await super()._serve()


def _bad_request_handler():
    """FastAPI's request-schema errors (422 by default) become 400 with a JSON error, like InvalidInput."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from kserve.model_server import app

    async def handler(_request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()
        )
        return JSONResponse(status_code=400, content={"error": f"malformed request body: {details}"})

    app.add_exception_handler(RequestValidationError, handler)


def serve(
    model_uri: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    name: str = "vrt",
    limits: Limits | None = None,
    inference: InferenceConfig | None = None,
    cache_dir: Path | None = None,
) -> None:
    """Load the model (ready only after load), then serve until SIGINT/SIGTERM."""
    predictor = VrtPredictor(name, model_uri, limits=limits, inference=inference, cache_dir=cache_dir)
    predictor.load()
    console.print(
        f"serving {model_uri}{f' (version {predictor.version})' if predictor.version else ''} at "
        f"http://{host}:{port}/v1/models/{name}:predict and /v2/models/{name}/infer"
    )
    _bad_request_handler()
    HostModelServer(host, port).start([predictor])


def main(argv: list[str] | None = None) -> None:
    defaults = Limits()
    parser = argparse.ArgumentParser(description="Serve an R-Sa2VA model (KServe v1 + v2 REST).")
    parser.add_argument("--model_uri", required=True, help="directory, s3://..., or models:/NAME@ALIAS")
    parser.add_argument("--model_name", default="vrt", help="name in the URL paths")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http_port", type=int, default=8080)
    parser.add_argument("--max_new_tokens", type=int, default=InferenceConfig().max_new_tokens)
    parser.add_argument(
        "--batch_items", type=int, default=InferenceConfig().batch_items, help="queries per model call"
    )
    parser.add_argument(
        "--device", default="auto", choices=["auto", "cpu", "cuda"], help="auto: CUDA when present"
    )
    parser.add_argument("--max_image_bytes", type=int, default=defaults.max_image_bytes)
    parser.add_argument("--max_pixels", type=int, default=defaults.max_pixels)
    parser.add_argument("--max_question_chars", type=int, default=defaults.max_question_chars)
    parser.add_argument("--max_batch", type=int, default=defaults.max_batch)
    args = parser.parse_args(argv)
    try:
        limits = Limits(args.max_image_bytes, args.max_pixels, args.max_question_chars, args.max_batch)
        inference = InferenceConfig(args.max_new_tokens, args.batch_items, args.device)
    except ValueError as e:
        parser.error(str(e))
    serve(args.model_uri, args.host, args.http_port, args.model_name, limits, inference)


if __name__ == "__main__":
    main()
