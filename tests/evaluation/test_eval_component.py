"""The `evaluate` KFP component in a small pipeline under kfp.local (SubprocessRunner), logging to MLflow."""

import json

import pytest
from eval_dataset import VRT_POOL, jsonl, vrt_rows, write_dataset
from kfp import dsl, local

from components.evaluate.component import evaluate

P = VRT_POOL
PREDS = [
    {
        "id": "v1",
        "text": "<think>[SEG] [SEG]</think><answer>[SEG]</answer>",
        "masks": [P["o1"], P["o2"], P["o2"]],
    },
    {"id": "v3", "text": "<think>[SEG]</think><answer>[SEG]</answer>", "masks": [P["o1"], P["o1"]]},
]


@dsl.component(base_image="python:3.11")
def make_inputs(
    dataset_uri: str,
    predictions_jsonl: str,
    dataset: dsl.Output[dsl.Dataset],
    predictions: dsl.Output[dsl.Artifact],
):
    import json

    with open(dataset.path, "w") as f:
        json.dump({"uri": dataset_uri, "source": "vrt-bench"}, f)
    with open(predictions.path, "w") as f:
        f.write(predictions_jsonl)


@dsl.pipeline
def eval_pipeline(dataset_uri: str, predictions_jsonl: str) -> dsl.Metrics:
    inputs = make_inputs(dataset_uri=dataset_uri, predictions_jsonl=predictions_jsonl)
    return evaluate(
        bench="vrt-bench", dataset=inputs.outputs["dataset"], predictions=inputs.outputs["predictions"]
    ).outputs["metrics"]


@pytest.mark.slow
def test_evaluate_component_kfp_local_and_mlflow(tmp_path, monkeypatch):
    import mlflow

    data = write_dataset(tmp_path / "vrt-bench", "vrt-bench", vrt_rows())
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    monkeypatch.setenv("VRT_EXPERIMENT", "eval-test")
    monkeypatch.chdir(tmp_path)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    task = eval_pipeline(dataset_uri=data, predictions_jsonl=jsonl(PREDS))
    # v1 perfect (R 1,1; A 1), v2 missing (R 0,0,0; A 0), v3 (R [1]; A o3 vs o1 -> 0)
    expected = {"R-LQ": 0.5, "R-SQ": 1.0, "A-mIoU": 1 / 3, "A-LQ": 1 / 3, "A-SQ": 1.0}
    logged = task.output.metadata
    assert {k: logged[k] for k in expected} == pytest.approx(expected)
    assert (
        logged["R-LQ/comp"] == 0.0
        and logged["A-mIoU/loc"] == 1.0
        and logged["count/missing_predictions"] == 1.0
    )
    [html_file] = [p for p in (tmp_path / "root").rglob("report") if p.is_file()]
    assert html_file.read_text().startswith("<!doctype html>")
    mlflow.set_tracking_uri(tracking)
    [run] = mlflow.search_runs(experiment_names=["eval-test"], output_format="list")
    assert run.info.run_name == "evaluate-vrt-bench" and run.data.params["bench"] == "vrt-bench"
    # in MLflow the metrics carry the benchmark's namespace (the pipeline's two evaluations share a parent run)
    assert {k: run.data.metrics[f"vrt_bench/{k}"] for k in expected} == pytest.approx(expected)
    assert all(k.startswith("vrt_bench/") for k in run.data.metrics)
    names = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id)}
    assert names == {"metrics.json", "report.html"}
    logged_json = json.loads(mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/metrics.json"))
    assert logged_json["counts"]["samples"] == 3
