"""The `deploy` step: serve a model version and smoke-test it; returns the endpoint URL.

- `local`: the model server as a detached subprocess on loopback (it outlives the step); its pid
  and URL are recorded in `.vrt/serve/NAME.json`, and a previous server of the same NAME is stopped.
- `kubernetes`: an InferenceService applied with the kubernetes client, waited for, smoke-tested.
  `models:/NAME@ALIAS` is pinned to the version the alias names now.

    from components.deploy.step import deploy_local
    url = deploy_local("models:/vrt-tiny@champion", name="vrt-tiny")
"""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

from components.deploy.isvc import DeployConfig, inference_service
from vrt.errors import UserError

STATE_DIR = Path(".vrt") / "serve"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_local(name: str) -> str | None:
    """Stop the server a local deploy named `name` left running; returns its URL (None: no such deploy)."""
    record = STATE_DIR / f"{name}.json"
    if not record.is_file():
        return None
    info = json.loads(record.read_text())
    try:
        os.kill(int(info.get("pid")), signal.SIGTERM)
    except (ProcessLookupError, TypeError, ValueError):
        pass
    record.unlink()
    return info.get("url", "")


def deploy_local(
    model_uri: str, name: str = "vrt", port: int = 0, timeout: float = 300.0, max_new_tokens: int = 0
) -> str:
    """Start (or restart) the local server for `model_uri`, wait for ready, smoke-test; returns its URL."""
    from components.deploy.local import start_local

    record = STATE_DIR / f"{name}.json"
    stop_local(name)
    server = start_local(
        model_uri,
        port or _free_port(),
        name=name,
        timeout=timeout,
        extra_args=("--max_new_tokens", str(max_new_tokens)),
        detach=True,
    )
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    record.write_text(
        json.dumps(
            {
                "pid": server.process.pid,
                "url": server.url,
                "model_uri": model_uri,
                "log": str(server.log_path),
            }
        )
    )
    return server.url


def pin_version(model_uri: str) -> str:
    """`models:/NAME@ALIAS` -> `models:/NAME/VERSION` (what the alias names now); other URIs unchanged."""
    if not model_uri.startswith("models:/") or "@" not in model_uri:
        return model_uri
    from components.register import registry

    name, alias = model_uri[len("models:/") :].split("@", 1)
    return f"models:/{name}/{registry.get_version(name, alias).version}"


def platform_deploy_config(name: str, model_uri: str, namespace: str = "", tracking_uri: str = "", **kwargs) -> DeployConfig:
    """The InferenceService settings the chart's platform ConfigMap gives this pod (vrt/k8s/platform.py):
    namespace, predictor ServiceAccount, GPU pool, image, MLflow URI and the Secrets to log in with."""
    from components.images import SERVE_IMAGE
    from vrt.k8s import platform

    selector, tolerations = platform.gpu_placement()
    extra = {"node_selector": selector, "tolerations": tuple(tolerations)} if selector else {}
    if account := os.environ.get("VRT_PREDICTOR_SERVICE_ACCOUNT"):
        extra["service_account"] = account
    return DeployConfig(
        name=name, model_uri=pin_version(model_uri), namespace=platform.namespace(namespace), image=SERVE_IMAGE,
        tracking_uri=tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", ""),
        env_secrets=tuple(platform.secret_names()), **extra, **kwargs,
    )


def deploy_kubernetes(cfg: DeployConfig, timeout: float = 900.0, api=None) -> str:
    """Apply the InferenceService for `cfg`, wait for Ready, smoke-test it; returns status.url."""
    from components.deploy.kube import apply_inference_service, wait_ready
    from components.deploy.smoke import smoke_test

    apply_inference_service(inference_service(cfg), api=api)
    url = wait_ready(cfg.name, cfg.namespace, timeout, api=api)
    try:
        smoke_test(url, cfg.model_name)
    except (RuntimeError, OSError) as e:
        raise UserError(
            f"InferenceService {cfg.namespace}/{cfg.name} is Ready but its smoke test failed: {e}"
        ) from e
    return url
