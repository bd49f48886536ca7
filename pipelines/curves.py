"""Learning curves of a pipeline run, read back from MLflow: SFT loss terms and teacher-forced mask IoU,
GRPO rewards; one PNG, also logged to the run.

    data = curves(client, parent_run_id)
    path = write_curves(client, parent_run_id, data, Path(".vrt/demo/curves.png"))   # None: no training runs
    halves(data["grpo"]["reward/vrt_answer_iou/mean"])   # (mean of the first half, of the last half)
"""

from __future__ import annotations

from pathlib import Path

PANELS = {
    "sft": ("SFT loss terms", ("loss_ce", "loss_mask_bce", "loss_mask_dice")),
    "sft_iou": ("SFT mask IoU (train batches)", ("mask_iou",)),
    "grpo": ("GRPO rewards (mean per step)", ("reward/total/mean", "reward/vrt_format/mean", "reward/vrt_answer_iou/mean")),
}
STEP_OF_PANEL = {"sft": "sft", "sft_iou": "sft", "grpo": "grpo"}


def step_runs(client, parent_run_id: str) -> dict[str, str]:
    """{step name: run id} of the parent's child runs that carry a `vrt.step` tag (the latest of each)."""
    parent = client.get_run(parent_run_id)
    runs = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'", order_by=["start_time ASC"]
    )
    return {r.data.tags["vrt.step"]: r.info.run_id for r in runs if "vrt.step" in r.data.tags}


def histories(client, run_id: str, keys: tuple[str, ...]) -> dict[str, list[tuple[int, float]]]:
    """{metric: [(step, value)]} of the keys the run logged, in step order."""
    out = {}
    for key in keys:
        points = sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        if points:
            out[key] = points
    return out


def curves(client, parent_run_id: str) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """{panel: {metric: points}} for the panels whose step ran and logged something."""
    steps = step_runs(client, parent_run_id)
    out = {}
    for panel, (_, keys) in PANELS.items():
        run_id = steps.get(STEP_OF_PANEL[panel])
        if run_id and (found := histories(client, run_id, keys)):
            out[panel] = found
    return out


def plot(data: dict[str, dict[str, list[tuple[int, float]]]], path: Path) -> Path:
    """One row of panels (one per entry of `data`), metric value against training step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(data), figsize=(5 * len(data), 3.6), squeeze=False)
    for ax, (panel, metrics) in zip(axes[0], data.items()):
        for key, points in metrics.items():
            ax.plot([s for s, _ in points], [v for _, v in points], marker="." if len(points) < 30 else None,
                    label=key.removeprefix("reward/").removesuffix("/mean"))
        ax.set_title(PANELS[panel][0])
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def halves(points: list[tuple[int, float]]) -> tuple[float, float] | None:
    """Mean value of the first and of the last half of a curve (an odd count's middle point in neither);
    None under two points."""
    if len(points) < 2:
        return None
    half = len(points) // 2
    first, last = [v for _, v in points[:half]], [v for _, v in points[-half:]]
    return sum(first) / half, sum(last) / half


def write_curves(client, parent_run_id: str, data: dict, path: Path) -> Path | None:
    """Plot `data` (from `curves`) to `path` and log the PNG to the parent run; None if nothing trained."""
    if not data:
        return None
    plot(data, path)
    client.log_artifact(parent_run_id, str(path))
    return path
