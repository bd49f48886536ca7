"""`vrt eval predict` / `vrt eval run` with the tiny model on a generated VRT-Bench dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluation.trace import seg_roles
from vrt.cli.main import main
from vrt.data.prepare import PrepareConfig, prepare
from vrt.data.synth import synthesize


@pytest.fixture(scope="module")
def bench_and_model(tmp_path_factory) -> tuple[str, str]:
    from models import RSa2VA, load_preset

    root = tmp_path_factory.mktemp("predict")
    synthesize(root / "raw", 2, 3, 5, 64)
    prepare(PrepareConfig("vrt-bench", str(root / "raw" / "vrt-bench"), str(root / "bench")))
    RSa2VA.from_preset(load_preset("tiny"), seed=0).save_pretrained(root / "model")
    return str(root / "bench"), str(root / "model")


def test_run_writes_one_prediction_per_sample_and_scores(bench_and_model, tmp_path):
    bench, model = bench_and_model
    out = tmp_path / "eval"
    main(["eval", "run", "--model", model, "--data", bench, "--out", str(out), "--max-new-tokens", "8"])
    lines = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == ["bench-0000", "bench-0001", "bench-0002"]
    for line in lines:
        assert len(line["masks"]) == len(seg_roles(line["text"])) == len(line["scores"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["counts"]["samples"] == 3
    assert metrics["counts"]["missing_predictions"] == 0
    assert (out / "report.html").stat().st_size > 0


def test_predict_limit_and_bad_model(bench_and_model, tmp_path, capsys):
    bench, model = bench_and_model
    preds = tmp_path / "p.jsonl"
    main(["eval", "predict", "--model", model, "--data", bench, "--out", str(preds), "--limit", "1",
          "--max-new-tokens", "4"])
    assert len(preds.read_text().splitlines()) == 1
    with pytest.raises(SystemExit) as e:
        main(["eval", "predict", "--model", str(tmp_path / "nope"), "--data", bench, "--out", str(preds)])
    assert e.value.code == 2
    assert "is not a directory" in capsys.readouterr().err
    assert not Path(tmp_path / "nope").exists()
