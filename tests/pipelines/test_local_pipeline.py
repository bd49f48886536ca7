"""The README's main command end to end: `vrt pipeline run --local` on generated data (slow, runs in CI)."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from vrt.cli.main import main

pytestmark = pytest.mark.slow


@pytest.fixture()
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("VRT_PARENT_RUN_ID", raising=False)
    yield tmp_path
    from components.deploy.step import stop_local

    stop_local("vrt")


def test_local_pipeline_runs_the_whole_chain(in_tmp, capsys):
    import mlflow

    main(["pipeline", "run", "--local", "--param", "data.n_train=16", "--param", "data.n_bench=4",
          "--param", "evaluate.max_new_tokens=96"])
    out = capsys.readouterr().out
    assert "registered: models:/vrt-tiny/1  alias: champion" in out
    assert "ReasonSeg (the trained model, %)" in out and "ReasonSeg scoring: --empty one --ignore foreground; report:" in out
    assert (in_tmp / ".vrt" / "demo" / "overlay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(in_tmp / ".vrt" / "demo" / "overlay.png").size == (512, 512)  # 128 px bench images x 4
    for name, source, count in (("train", "vrt-80k", 16), ("train-vgr", "vgr", 8), ("bench", "vrt-bench", 4),
                                ("reasonseg", "reasonseg", 4)):  # VGR: n_train / 2, SFT's mix_in
        manifest = json.loads((in_tmp / ".vrt/work/datasets" / name / "manifest.json").read_text())
        assert (manifest["source"], manifest["counts"]) == (source, {"input": count, "written": count, "quarantined": 0})
    # The server the deploy step left on loopback answers.
    record = json.loads((in_tmp / ".vrt/serve/vrt.json").read_text())
    with urllib.request.urlopen(f"{record['url']}/v2/models/vrt/ready", timeout=10) as r:
        assert r.status == 200
    # One parent MLflow run with one child run per tracked step.
    mlflow.set_tracking_uri(f"sqlite:///{in_tmp / '.vrt/mlflow.db'}")
    runs = mlflow.search_runs(search_all_experiments=True)
    parent = runs[runs["tags.mlflow.runName"] == "pipeline-tiny"].run_id.tolist()
    assert len(parent) == 1
    children = runs[runs["tags.mlflow.parentRunId"] == parent[0]]
    assert sorted(children["tags.mlflow.runName"].str.split("-").str[0]) == [
        "evaluate", "evaluate", "grpo", "register", "sft"
    ]
    # Each benchmark: its own KFP Metrics + HTML report, and its namespaced metrics in MLflow.
    kfp_root = next(Path(in_tmp / ".vrt/kfp").glob("vrt-train-tiny-*"))
    vrt_metrics = json.loads((kfp_root / "evaluate" / "metrics").read_text())
    rs_metrics = json.loads((kfp_root / "evaluate-2" / "metrics").read_text())
    assert (vrt_metrics["count/samples"], rs_metrics["count/samples"]) == (4.0, 4.0)
    assert {"R-LQ", "A-mIoU"} <= set(vrt_metrics) and "gIoU" not in vrt_metrics
    assert 0.0 <= rs_metrics["gIoU"] <= 1.0 and 0.0 <= rs_metrics["cIoU"] <= 1.0
    assert rs_metrics["count/scored_samples"] + rs_metrics["count/missing_predictions"] >= 4.0
    for task in ("evaluate", "evaluate-2"):
        assert (kfp_root / task / "report").read_text().startswith("<!doctype html>")
    by_name = {r["tags.mlflow.runName"]: r for _, r in children.iterrows()}
    assert by_name["evaluate-vrt-bench"]["metrics.vrt_bench/A-mIoU"] == vrt_metrics["A-mIoU"]
    assert by_name["evaluate-reasonseg"]["metrics.reasonseg/gIoU"] == rs_metrics["gIoU"]
    assert by_name["evaluate-reasonseg"]["params.reasonseg_empty"] == "one"
    # The registered version carries both benchmarks' metrics, which the gate read.
    from components.register import registry

    version = registry.get_version("vrt-tiny", "1")
    assert version.metrics["reasonseg/gIoU"] == rs_metrics["gIoU"]
    assert version.metrics["vrt_bench/A-mIoU"] == vrt_metrics["A-mIoU"]
    assert version.tags[registry.REASON_TAG] == f"first champion: vrt_bench/A-mIoU={vrt_metrics['A-mIoU']:.4g}"
    assert os.environ.get("VRT_PARENT_RUN_ID") is None
    assert os.environ.get("MLFLOW_TRACKING_URI") is None
