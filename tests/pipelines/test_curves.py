"""Learning curves of a pipeline run: read back from a real MLflow (SQLite) store, plotted, logged."""

from __future__ import annotations

import numpy as np
import pytest
from mlflow import MlflowClient
from PIL import Image

from pipelines.curves import curves, halves, write_curves


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One SQLite store (its schema migration is the slow part): a pipeline run with three steps."""
    tmp_path = tmp_path_factory.mktemp("mlflow")
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.create_experiment("t", artifact_location=(tmp_path / "art").as_uri())
    parent = client.create_run(exp, run_name="pipeline").info.run_id
    for step, metrics in (("sft", {"loss_ce": 9.0, "loss_mask_dice": 0.9, "mask_iou": 0.1}),
                          ("grpo", {"reward/vrt_answer_iou/mean": 0.2}), ("evaluate", {"R-LQ": 0.0})):
        run = client.create_run(exp, run_name=step, tags={"vrt.step": step, "mlflow.parentRunId": parent})
        for i in range(3):
            for key, value in metrics.items():
                client.log_metric(run.info.run_id, key, value + 0.1 * i, step=i + 1)
    return client, parent, exp


def test_curves_read_the_training_steps(store):
    client, parent, _ = store
    data = curves(client, parent)
    assert sorted(data) == ["grpo", "sft", "sft_iou"]
    assert data["sft"]["loss_ce"] == [(1, 9.0), (2, 9.1), (3, 9.2)]
    assert sorted(data["sft"]) == ["loss_ce", "loss_mask_dice"]  # BCE was not logged here
    assert [v for _, v in data["grpo"]["reward/vrt_answer_iou/mean"]] == [0.2, 0.30000000000000004, 0.4]


def test_write_curves_plots_and_logs(store, tmp_path):
    client, parent, _ = store
    path = write_curves(client, parent, curves(client, parent), tmp_path / "demo" / "curves.png")
    img = np.asarray(Image.open(path))
    assert img.shape[1] > 2 * img.shape[0]  # three panels side by side
    assert [a.path for a in client.list_artifacts(parent)] == ["curves.png"]


def test_no_training_runs_no_png(store, tmp_path):
    client, _, exp = store
    parent = client.create_run(exp, run_name="pipeline").info.run_id
    assert write_curves(client, parent, curves(client, parent), tmp_path / "curves.png") is None
    assert not (tmp_path / "curves.png").exists()


@pytest.mark.parametrize(("values", "expected"), [
    ([], None),
    ([0.5], None),
    ([0.0, 0.2], (0.0, 0.2)),
    ([0.0, 0.0, 0.0, 0.2], (0.0, 0.1)),
    ([0.1, 0.3, 0.9, 0.5, 0.7], (0.2, 0.6)),  # odd count: the middle step is in neither half
])
def test_halves(values, expected):
    result = halves([(i + 1, v) for i, v in enumerate(values)])
    assert result == expected if expected is None else result == pytest.approx(expected)


def test_summary_prints_how_grpo_moved_the_answer_reward():
    from pipelines.summary import grpo_reward_line

    data = {"grpo": {"reward/vrt_answer_iou/mean": [(1, 0.0), (2, 0.0), (3, 0.0), (4, 0.2)]}}
    assert grpo_reward_line(data) == (
        "GRPO answer reward (vrt_answer_iou, mean per step): steps 1-2 0.000 -> steps 3-4 0.100 (+0.100)")
    assert grpo_reward_line({"sft": {}}) is None
    assert grpo_reward_line({"grpo": {"reward/vrt_answer_iou/mean": [(1, 0.4)]}}) is None


def test_summary_counts_mask_pixels_per_answer_object():
    from pipelines.summary import mask_areas
    from vrt.data import rle

    mask = np.zeros((8, 8), bool)
    mask[2:4, 2:5] = True
    objects = [{"mask": {"size": [8, 8], "counts": rle.encode(m)}} for m in (mask, np.zeros((8, 8), bool))]
    assert mask_areas({"objects": objects}) == [6, 0]
    assert mask_areas({"text": "no objects"}) == []
