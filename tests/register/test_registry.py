"""Registry against a real MLflow server (SQLite + S3 artifacts on moto): register, gate, promote, rollback, CLI."""

from __future__ import annotations

import json

import pytest
import registry_server
from typer.testing import CliRunner

from components.register import registry
from components.register.gate import GateConfig
from components.register.step import register_model
from vrt.errors import UserError

pytestmark = pytest.mark.slow
mlflow_server = registry_server.mlflow_server  # module-scoped fixture: one MLflow server for this module
write_model_artifact = registry_server.write_model_artifact
CFG = GateConfig(primary="vrt_bench/A-mIoU", margin=0.01, guards=("vrt_bench/R-LQ",), tolerance=0.02)
BOTH = GateConfig(guards=("vrt_bench/R-LQ", "reasonseg/gIoU", "reasonseg/cIoU"), tolerance=0.02)


@pytest.fixture(scope="module")
def registered(mlflow_server, tmp_path_factory):
    """Four versions of 'vrt-reg': champion, challenger (gain too small), champion, challenger (guard drop)."""
    tmp = tmp_path_factory.mktemp("reg")
    runs = [
        {"vrt_bench/A-mIoU": 0.50, "vrt_bench/R-LQ": 0.60},
        {"vrt_bench/A-mIoU": 0.5099, "vrt_bench/R-LQ": 0.60},
        {"vrt_bench/A-mIoU": 0.51, "vrt_bench/R-LQ": 0.58},
        {"vrt_bench/A-mIoU": 0.70, "vrt_bench/R-LQ": 0.5599},
    ]
    results = [
        register_model(
            write_model_artifact(tmp, str(i)),
            m,
            "vrt-reg",
            CFG,
            datasets={
                "training": {"uri": "s3://data/ds", "sha256": "ab" * 32, "source": "vrt-80k", "revision": "rev1"},
                "evaluation": {"uri": "s3://data/bench", "sha256": "cd" * 32, "source": "vrt-bench", "revision": "rev1"},
            },
            pipeline_run_id=f"run-{i}",
        )
        for i, m in enumerate(runs)
    ]
    return results


def test_register_and_gate(registered):
    assert [(r.model_uri, r.alias) for r in registered] == [
        ("models:/vrt-reg/1", "champion"),
        ("models:/vrt-reg/2", "challenger"),
        ("models:/vrt-reg/3", "champion"),
        ("models:/vrt-reg/4", "challenger"),
    ]
    assert registered[1].reason == "vrt_bench/A-mIoU 0.5099 vs champion v1 0.5: gain +0.0099 < margin 0.01"
    assert registered[3].reason == (
        "vrt_bench/R-LQ dropped by 0.0201 > tolerance 0.02 vs champion v3 (VRT-Bench R-LQ 0.5599 vs 0.58)"
    )
    assert registry.aliases("vrt-reg") == {"champion": "3", "challenger": "4"}


def test_lineage_and_metrics_tags(registered):
    v = registry.get_version("vrt-reg", "champion")
    assert v.version == "3"
    assert v.metrics == {"vrt_bench/A-mIoU": 0.51, "vrt_bench/R-LQ": 0.58}
    assert {
        k: v.tags[k]
        for k in (
            "vrt.dataset_manifest_sha256",
            "vrt.dataset_revision",
            "vrt.git_commit",
            "vrt.config_hash",
            "vrt.pipeline_run_id",
            "vrt.model_sha256",
            "vrt.gate",
        )
    } == {
        "vrt.dataset_manifest_sha256": "dsha",
        "vrt.dataset_revision": "rev1",
        "vrt.git_commit": "c0ffee",
        "vrt.config_hash": "h1",
        "vrt.pipeline_run_id": "run-2",
        "vrt.model_sha256": "sha-2",
        "vrt.gate": "champion",
    }
    assert not any(k.startswith("vrt.metric.") for k in v.tags)  # metrics are metrics, not tags


def test_version_is_a_logged_model_with_metrics_and_dataset_inputs(registered):
    import mlflow

    c = registry.client()
    mv = c.get_model_version("vrt-reg", "3")
    model = c.get_logged_model(registry.logged_model_id(mv))
    assert mv.source == f"models:/{model.model_id}" and str(model.status) == "READY"
    assert {m.key: m.value for m in model.metrics} == {"vrt_bench/A-mIoU": 0.51, "vrt_bench/R-LQ": 0.58}
    run = c.get_run(mv.run_id)
    assert run.data.metrics == {"vrt_bench/A-mIoU": 0.51, "vrt_bench/R-LQ": 0.58}
    inputs = {d.dataset.name: (d.dataset.digest, {t.key: t.value for t in d.tags}["mlflow.data.context"])
              for d in run.inputs.dataset_inputs}
    assert inputs == {"vrt-80k@rev1": ("ab" * 8, "training"), "vrt-bench@rev1": ("cd" * 8, "evaluation")}
    assert mlflow.models.get_model_info("models:/vrt-reg/3").flavors.keys() >= {"python_function"}


def test_weights_are_stored_once_per_version_in_s3(registered):
    import boto3

    c = registry.client()
    ids = {registry.logged_model_id(c.get_model_version("vrt-reg", str(v))) for v in range(1, 5)}
    keys = [o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="mlflow")["Contents"]]
    ours = [k for k in keys if any(f"/{i}/" in k for i in ids)]  # other tests' models share the bucket
    assert len(ids) == 4
    assert sum(k.endswith("/artifacts/weights/config.json") for k in ours) == 4
    assert sum(k.endswith("weights.safetensors") for k in ours) == 4  # one copy per version, nothing else
    assert sum(k.endswith("/MLmodel") for k in ours) == 4


def test_promote_rollback_and_cli(registered, tmp_path):
    from typer import Typer

    from vrt.cli.model_registry import register

    app = Typer()
    register(app)
    runner = CliRunner()
    with pytest.raises(UserError, match="did not pass the gate: vrt_bench/R-LQ dropped"):
        registry.promote("vrt-reg", "4", CFG)
    with pytest.raises(UserError, match="--force needs --reason"):
        registry.promote("vrt-reg", "4", CFG, force=True)
    res = runner.invoke(app, ["promote", "vrt-reg", "4", "--force", "--reason", "hotfix"])
    assert res.exit_code == 0, res.output
    assert registry.aliases("vrt-reg") == {"champion": "4"}
    assert [h["version"] for h in registry.history("vrt-reg")] == ["1", "3", "4"]
    assert registry.history("vrt-reg")[-1]["reason"] == "forced by operator: hotfix"
    assert registry.rollback("vrt-reg") == ("4", "3")
    assert runner.invoke(app, ["rollback", "vrt-reg"]).exit_code == 0
    assert registry.champion("vrt-reg").version == "1"
    with pytest.raises(UserError, match="no previous champion"):
        registry.rollback("vrt-reg")
    shown = json.loads(runner.invoke(app, ["show", "vrt-reg"]).stdout)
    assert (shown["uri"], shown["aliases"], shown["metrics"]) == (
        "models:/vrt-reg/1",
        ["champion"],
        {"vrt_bench/A-mIoU": 0.5, "vrt_bench/R-LQ": 0.6},
    )
    listed = runner.invoke(app, ["list", "vrt-reg"]).stdout
    assert listed.count("vrt-reg") == 0 and "champion" in listed and "0.5099" in listed
    with pytest.raises(UserError, match="model 'nope'"):
        registry.get_version("nope", "1")
    with pytest.raises(UserError, match="metrics lack vrt_bench/R-LQ"):
        register_model(write_model_artifact(tmp_path, "x"), {"vrt_bench/A-mIoU": 0.9}, "vrt-reg", CFG)


def test_gate_refuses_a_model_better_on_vrt_bench_but_worse_on_reasonseg(mlflow_server, tmp_path):
    """v1 registered before ReasonSeg was evaluated (un-namespaced VRT-Bench metrics); v2 beats it on
    VRT-Bench (its ReasonSeg not comparable: said so); v3 beats v2 on VRT-Bench but loses 0.031 of
    ReasonSeg gIoU (allowed: 0.02) and is refused with the metric and benchmark in the reason."""
    runs = [
        {"A-mIoU": 0.40, "R-LQ": 0.50},
        {"vrt_bench/A-mIoU": 0.45, "vrt_bench/R-LQ": 0.50, "reasonseg/gIoU": 0.40, "reasonseg/cIoU": 0.42},
        {"vrt_bench/A-mIoU": 0.60, "vrt_bench/R-LQ": 0.55, "reasonseg/gIoU": 0.369, "reasonseg/cIoU": 0.42},
    ]
    results = [  # v1 as the code before ReasonSeg registered it: VRT-Bench metrics, a VRT-Bench gate
        register_model(write_model_artifact(tmp_path, f"two-{i}"), m, "vrt-two", CFG if i == 0 else BOTH)
        for i, m in enumerate(runs)
    ]
    assert [(r.version, r.alias) for r in results] == [("1", "champion"), ("2", "champion"), ("3", "challenger")]
    assert results[1].reason == (
        "vrt_bench/A-mIoU 0.45 beats champion v1 0.4 by +0.05; not compared (champion v1 has no such metric): "
        "reasonseg/gIoU, reasonseg/cIoU"
    )
    assert results[2].reason == (
        "reasonseg/gIoU dropped by 0.031 > tolerance 0.02 vs champion v2 (ReasonSeg gIoU 0.369 vs 0.4)"
    )
    assert registry.aliases("vrt-two") == {"champion": "2", "challenger": "3"}
    v3 = registry.get_version("vrt-two", "3")
    assert (v3.tags[registry.GATE_TAG], v3.tags[registry.REASON_TAG]) == ("challenger", results[2].reason)
    assert v3.metrics == runs[2]  # both benchmarks' metrics, namespaced, on the registered version
    with pytest.raises(UserError, match="did not pass the gate: reasonseg/gIoU dropped by 0.031"):
        registry.promote("vrt-two", "3", BOTH)


def test_deploy_local_serves_the_champion_from_the_registry(mlflow_server, tmp_path, monkeypatch):
    """Register the real tiny model (artifacts to S3 via the server), deploy models:/NAME@champion locally."""
    from components.deploy.smoke import post_json, sample_image_b64
    from components.deploy.step import deploy_local
    from models import RSa2VA, load_preset

    model_dir = tmp_path / "tiny"
    RSa2VA.from_preset(load_preset("tiny"), seed=0).save_pretrained(model_dir)
    artifact = tmp_path / "tiny.json"
    artifact.write_text(json.dumps({"uri": str(model_dir), "sha256": "t", "lineage": {"git_commit": "abc"}}))
    result = register_model(artifact, {"vrt_bench/A-mIoU": 0.1, "vrt_bench/R-LQ": 0.1}, "vrt-serve", CFG)
    assert (result.model_uri, result.alias) == ("models:/vrt-serve/1", "champion")
    monkeypatch.chdir(tmp_path)
    url = deploy_local("models:/vrt-serve@champion", name="vrt-serve", max_new_tokens=4)
    record = json.loads((tmp_path / ".vrt" / "serve" / "vrt-serve.json").read_text())
    try:
        assert record["url"] == url and url.startswith("http://127.0.0.1:")
        status, body = post_json(
            f"{url}/v2/models/vrt-serve/infer",
            {
                "inputs": [
                    {"name": "image", "datatype": "BYTES", "shape": [1], "data": [sample_image_b64()]},
                    {"name": "question", "datatype": "BYTES", "shape": [1], "data": ["what is red?"]},
                ]
            },
        )
        assert status == 200 and body["model_version"] == "1"
    finally:
        import os
        import signal

        os.kill(record["pid"], signal.SIGTERM)
