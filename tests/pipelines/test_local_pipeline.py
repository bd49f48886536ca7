"""The README's main command end to end: `vrt pipeline run --local` on generated data (slow, runs in CI)."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

import pytest

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
    assert (in_tmp / ".vrt" / "demo" / "overlay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name, count in (("train", 16), ("bench", 4), ("train-vgr", 8)):  # VGR: n_train / 2, SFT's mix_in
        manifest = json.loads((in_tmp / ".vrt/work/datasets" / name / "manifest.json").read_text())
        assert manifest["counts"] == {"input": count, "written": count, "quarantined": 0}
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
    assert sorted(children["tags.mlflow.runName"].str.split("-").str[0]) == ["evaluate", "grpo", "register", "sft"]
    metrics = json.loads(next(Path(in_tmp / ".vrt/kfp").glob("*/evaluate/metrics")).read_text())
    assert metrics["count/samples"] == 4.0
    assert os.environ.get("VRT_PARENT_RUN_ID") is None
    assert os.environ.get("MLFLOW_TRACKING_URI") is None
