"""Run the predictor with `kserve.ModelServer` (REST v1 + v2) on a chosen host and port.

The container entry point of the serve image and the process behind `vrt serve`:

    python -m components.deploy.server --model_uri models:/vrt-tiny@champion --http_port 8080
    curl -s localhost:8080/v2/models/vrt/ready

The default host is loopback (127.0.0.1); the InferenceService passes `--host 0.0.0.0`.
guard.py sits in front of kserve's app: head/body size and time limits, repository endpoints off,
errors as JSON 4xx/503 and 500s that name nothing internal.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kserve import ModelServer

from components.deploy.guard import (
    GuardMiddleware,
    HttpLimits,
    guarded_protocol,
    harden_dataplane,
    install_handlers,
)
from components.deploy.payload import Limits
from components.deploy.predictor import InferenceConfig, VrtPredictor
from vrt.console import console


class HostModelServer(ModelServer):
    """kserve.ModelServer on `host` (kserve 0.21 binds 0.0.0.0 unless told here), behind guard.py's limits."""

    def __init__(self, host: str, http_port: int, http_limits: HttpLimits) -> None:
        super().__init__(http_port=http_port, enable_grpc=False, workers=1)
        self.host = host
        self.http_limits = http_limits
        harden_dataplane(self.dataplane)

    async def _serve(self) -> None:
        from kserve.model_server import app

        rest = self._rest_server
        create_application = rest.create_application

        def create_hardened_application() -> None:
            create_application()
            install_handlers(app)

        rest.create_application = create_hardened_application
        config = rest.config
        config.host = self.host
        config.app = GuardMiddleware(app, self.http_limits)
        config.http = guarded_protocol(self.http_limits)
        config.h11_max_incomplete_event_size = self.http_limits.max_header_bytes + (1 << 20)
        await super()._serve()


def serve(
    model_uri: str,
    host: str = "127.0.0.1",
    port: int = 8080,
    name: str = "vrt",
    limits: Limits | None = None,
    inference: InferenceConfig | None = None,
    cache_dir: Path | None = None,
    http_limits: HttpLimits | None = None,
) -> None:
    """Load the model (ready only after load), then serve until SIGINT/SIGTERM."""
    predictor = VrtPredictor(name, model_uri, limits=limits, inference=inference, cache_dir=cache_dir)
    predictor.load()
    console.print(
        f"serving {model_uri}{f' (version {predictor.version})' if predictor.version else ''} at "
        f"http://{host}:{port}/v1/models/{name}:predict and /v2/models/{name}/infer"
    )
    http_limits = http_limits or HttpLimits(max_body_bytes=predictor.limits.max_body_bytes())
    HostModelServer(host, port, http_limits).start([predictor])


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
    parser.add_argument(
        "--pixel_budget_bytes",
        type=int,
        default=InferenceConfig().pixel_budget_bytes,
        help="decoded image bytes in flight; beyond it requests queue, then get 503",
    )
    parser.add_argument("--budget_wait_s", type=float, default=InferenceConfig().budget_wait_s)
    parser.add_argument("--max_header_bytes", type=int, default=16 * 1024)
    parser.add_argument("--header_timeout_s", type=float, default=10.0)
    parser.add_argument("--body_timeout_s", type=float, default=60.0)
    args = parser.parse_args(argv)
    if not 1 <= args.http_port <= 65535:
        parser.error(f"--http_port must be within 1..65535, got {args.http_port}")
    try:
        limits = Limits(args.max_image_bytes, args.max_pixels, args.max_question_chars, args.max_batch)
        inference = InferenceConfig(
            args.max_new_tokens, args.batch_items, args.device, args.pixel_budget_bytes, args.budget_wait_s
        )
        http_limits = HttpLimits(
            limits.max_body_bytes(), args.max_header_bytes, args.header_timeout_s, args.body_timeout_s
        )
    except ValueError as e:
        parser.error(str(e))
    serve(
        args.model_uri, args.host, args.http_port, args.model_name, limits, inference, http_limits=http_limits
    )


if __name__ == "__main__":
    main()
