"""The KFP `register` and `deploy` steps run by kfp.local: Model/Metrics/Dataset artifacts -> champion -> local URL."""

import json
import os
import signal
import urllib.request

import predictor_server
import pytest

pytestmark = pytest.mark.slow
tiny_model_dir = predictor_server.tiny_model_dir  # module-scoped fixture


def test_register_then_deploy_with_kfp_local(tiny_model_dir, tmp_path, monkeypatch):
    from kfp import dsl, local

    from components.deploy.component import deploy
    from components.register import registry
    from components.register.component import register

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    files = {
        "model.json": {
            "uri": str(tiny_model_dir),
            "sha256": "s",
            "preset": "tiny",
            "lineage": {"git_commit": "g1"},
        },
        "metrics.json": {"A-mIoU": 0.3, "R-LQ": 0.4},
        "dataset.json": {"sha256": "dsha", "revision": "r1"},
    }
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content))
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))

    @dsl.pipeline
    def register_and_deploy() -> str:
        model = dsl.importer(artifact_uri=str(tmp_path / "model.json"), artifact_class=dsl.Model)
        metrics = dsl.importer(artifact_uri=str(tmp_path / "metrics.json"), artifact_class=dsl.Metrics)
        dataset = dsl.importer(artifact_uri=str(tmp_path / "dataset.json"), artifact_class=dsl.Dataset)
        reg = register(
            model=model.output, metrics=metrics.output, dataset=dataset.output, model_name="kfp-tiny"
        )
        return deploy(model_uri=reg.outputs["model_uri"], name="kfp-tiny").output

    url = register_and_deploy().output
    record = json.loads((tmp_path / ".vrt" / "serve" / "kfp-tiny.json").read_text())
    try:
        assert record["url"] == url and record["model_uri"] == "models:/kfp-tiny/1"
        with urllib.request.urlopen(f"{url}/v2/models/kfp-tiny/ready", timeout=10) as response:
            assert json.loads(response.read()) == {"name": "kfp-tiny", "ready": True}
    finally:
        os.kill(record["pid"], signal.SIGTERM)
    assert (tmp_path / ".vrt" / "mlflow.db").is_file()
    champion = registry.get_version("kfp-tiny", "champion")
    # the step's `metrics` are VRT-Bench's: registered under that benchmark's namespace
    assert (champion.version, champion.metrics) == ("1", {"vrt_bench/A-mIoU": 0.3, "vrt_bench/R-LQ": 0.4})
    assert (champion.tags["vrt.dataset_manifest_sha256"], champion.tags["vrt.git_commit"]) == ("dsha", "g1")
