"""KFP step `deploy`: serve a registered model locally (loopback subprocess) or as a KServe InferenceService.

Returns the endpoint URL. Compose it after `register`: `deploy(model_uri=reg.outputs["model_uri"])`.
"""

from kfp import dsl

from components.images import SERVE_IMAGE


@dsl.component(base_image=SERVE_IMAGE)
def deploy(
    model_uri: str,
    mode: str = "local",
    name: str = "vrt",
    port: int = 0,
    namespace: str = "vrt",
    tracking_uri: str = "",
    canary_percent: int = -1,
    deployment_mode: str = "RawDeployment",
    gpus: int = 1,
    timeout_s: int = 900,
) -> str:
    """Deploy `model_uri` (mode 'local' or 'kubernetes'), wait until ready, smoke-test it; returns the URL."""
    import os

    from components.deploy.isvc import DeployConfig
    from components.deploy.step import deploy_kubernetes, deploy_local, pin_version

    if mode == "local":
        return deploy_local(model_uri, name=name, port=port, timeout=timeout_s)
    if mode != "kubernetes":
        raise ValueError(f"mode {mode!r}: use 'local' or 'kubernetes'")
    cfg = DeployConfig(
        name=name,
        model_uri=pin_version(model_uri),
        namespace=namespace,
        tracking_uri=tracking_uri or os.environ.get("MLFLOW_TRACKING_URI", ""),
        canary_percent=None if canary_percent < 0 else canary_percent,
        deployment_mode=deployment_mode,
        gpus=gpus,
    )
    return deploy_kubernetes(cfg, timeout=timeout_s)
