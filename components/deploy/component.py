"""KFP step `deploy`: serve a registered model locally (loopback subprocess) or as a KServe InferenceService.

Returns the endpoint URL. Compose it after `register`: `deploy(model_uri=reg.outputs["model_uri"])`.
On a cluster the InferenceService goes to this pod's namespace (unless `namespace` is given), runs
as the chart's predictor ServiceAccount on the chart's GPU pool, and logs in to MLflow with the
chart's client Secret (all read from the platform ConfigMap: vrt/k8s/platform.py).
"""

from kfp import dsl

from components.images import SERVE_IMAGE


@dsl.component(base_image=SERVE_IMAGE, install_kfp_package=False)
def deploy(
    model_uri: str,
    mode: str = "local",
    name: str = "vrt",
    port: int = 0,
    namespace: str = "",
    tracking_uri: str = "",
    canary_percent: int = -1,
    deployment_mode: str = "RawDeployment",
    gpus: int = 1,
    timeout_s: int = 900,
) -> str:
    """Deploy `model_uri` (mode 'local' or 'kubernetes'), wait until ready, smoke-test it; returns the URL.

    Args:
        model_uri: Registered model, models:/NAME/VERSION or models:/NAME@ALIAS (pinned to its version).
        mode: local (model server on loopback) or kubernetes (KServe InferenceService).
        name: Server / InferenceService name (a DNS label).
        port: local: port to listen on (0: a free one).
        namespace: kubernetes: namespace of the InferenceService ("": this pod's namespace).
        tracking_uri: MLflow server the predictor resolves models:/ with ("": MLFLOW_TRACKING_URI).
        canary_percent: kubernetes: traffic share of the new revision (-1: all of it).
        deployment_mode: kubernetes: RawDeployment or Serverless.
        gpus: kubernetes: GPUs per predictor pod.
        timeout_s: Seconds to wait for the server to be ready.
    """
    from components.deploy.step import deploy_kubernetes, deploy_local, platform_deploy_config
    from vrt.k8s.platform import check_step_env

    check_step_env()
    if mode == "local":
        return deploy_local(model_uri, name=name, port=port, timeout=timeout_s)
    if mode != "kubernetes":
        raise ValueError(f"mode {mode!r}: use 'local' or 'kubernetes'")
    cfg = platform_deploy_config(
        name, model_uri, namespace=namespace, tracking_uri=tracking_uri,
        canary_percent=None if canary_percent < 0 else canary_percent, deployment_mode=deployment_mode, gpus=gpus,
    )
    return deploy_kubernetes(cfg, timeout=timeout_s)
