"""What a local pipeline run produced, printed at the end of `vrt pipeline run --local`: datasets,
VRT-Bench metrics, ReasonSeg metrics (gIoU/cIoU, the scoring rules and the samples each touched), the
learning curves (PNG), how GRPO moved the answer reward, the registered version and its alias, the
endpoint, one real request and its answer, and an overlay PNG of that answer's masks.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from evaluation.score import HEADLINE
from pipelines.local import LocalRun
from pipelines.settings import MIX_SOURCES
from vrt import storage
from vrt.data.manifest import read_manifest
from vrt.data.reader import read_table

METRICS = HEADLINE["vrt-bench"]
ANSWER_REWARD = "reward/vrt_answer_iou/mean"
OVERLAY_MIN_SIDE = 512  # the saved overlay is scaled up (whole pixels) to at least this, for a person to look at
REASONSEG_COUNTS = {"samples": "samples", "scored_samples": "scored", "empty_rule_samples": "empty rule",
                    "ignore_rule_samples": "ignore rule", "predictions_without_answer_span": "no answer span"}


def dataset_table(run: LocalRun) -> Table:
    table = Table(title="Datasets", caption=storage.join(run.work_uri, "datasets"))
    for col in ("dataset", "source", "input", "written", "quarantined", "shards"):
        table.add_column(col)
    mixed = [f"train-{source}" for source in MIX_SOURCES]  # data.mix_in's dataset, when the preset mixes one
    for name in ("train", *mixed, "bench", "reasonseg"):
        if name in mixed and not storage.exists(storage.join(run.work_uri, "datasets", name, "manifest.json")):
            continue
        m = read_manifest(storage.join(run.work_uri, "datasets", name))
        c = m.counts
        table.add_row(name, m.source, str(c["input"]), str(c["written"]), str(c["quarantined"]), str(len(m.shards)))
    return table


def metrics_table(metrics: dict[str, float]) -> Table:
    table = Table(title="VRT-Bench (the trained model, %)")
    for col in ("class", *METRICS):
        table.add_column(col, justify="right")
    for cls in ("", "/visf", "/loc", "/comp", "/func"):
        cells = [metrics.get(f"{m}{cls}") for m in METRICS]
        table.add_row(cls.lstrip("/") or "all", *("-" if v is None else f"{100 * v:.1f}" for v in cells))
    return table


def reasonseg_table(metrics: dict[str, float]) -> Table:
    """gIoU / cIoU (%) and how many samples each scoring rule touched (`--empty` / `--ignore`)."""
    table = Table(title="ReasonSeg (the trained model, %)")
    for col in ("gIoU", "cIoU", *REASONSEG_COUNTS.values()):
        table.add_column(col, justify="right")
    scores = [metrics.get(m) for m in HEADLINE["reasonseg"]]
    counts = [metrics.get(f"count/{c}") for c in REASONSEG_COUNTS]
    table.add_row(*("-" if v is None else f"{100 * v:.1f}" for v in scores),
                  *("-" if v is None else str(int(v)) for v in counts))
    return table


def reasonseg_params(run: LocalRun) -> dict[str, str]:
    """The ReasonSeg evaluate step's MLflow params (its scoring rules), from the pipeline's child runs."""
    from mlflow import MlflowClient

    from pipelines.curves import step_runs
    from vrt import tracking

    client = MlflowClient(tracking.tracking_uri())
    run_id = step_runs(client, run.mlflow_run_id).get("evaluate-reasonseg")
    return dict(client.get_run(run_id).data.params) if run_id else {}


def viewable_png(png: bytes, min_side: int = OVERLAY_MIN_SIDE) -> bytes:
    """The PNG scaled up by the smallest whole factor that makes its longer side >= `min_side` (nearest
    neighbour: every mask pixel stays a block of one colour); unchanged when it is already that large."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    factor = -(-min_side // max(image.size))
    if factor <= 1:
        return png
    buf = io.BytesIO()
    image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST).save(buf, format="PNG")
    return buf.getvalue()


def sample_request(run: LocalRun, out_dir: Path) -> tuple[dict, dict, Path | None]:
    """POST the first bench sample to the endpoint (v1, with overlay); save the overlay PNG (`viewable_png`)."""
    from components.deploy.smoke import post_json

    _, table = read_table(storage.join(run.work_uri, "datasets", "bench"))
    row = table.slice(0, 1).select(["image", "question"]).to_pylist()[0]
    request = {"instances": [{"image_b64": base64.b64encode(row["image"]).decode(), "question": row["question"],
                              "overlay": True}]}
    status, body = post_json(f"{run.endpoint}/v1/models/{run.server_name}:predict", request)
    if status != 200:
        raise RuntimeError(f"sample request to {run.endpoint} failed: HTTP {status} {json.dumps(body)[:300]}")
    answer = body["predictions"][0]
    overlay = None
    if png := answer.pop("overlay_png_b64", None):
        overlay = out_dir / "overlay.png"
        out_dir.mkdir(parents=True, exist_ok=True)
        overlay.write_bytes(viewable_png(base64.b64decode(png)))
    return request, answer, overlay


def learning_curves(run: LocalRun, out_dir: Path) -> tuple[Path | None, dict]:
    """SFT loss terms and mask IoU, GRPO rewards, as `curves.png` in `out_dir` and on the MLflow run; and
    the curves themselves ({panel: {metric: [(step, value)]}})."""
    from mlflow import MlflowClient

    from pipelines.curves import curves, write_curves
    from vrt import tracking

    client = MlflowClient(tracking.tracking_uri())
    data = curves(client, run.mlflow_run_id)
    return write_curves(client, run.mlflow_run_id, data, out_dir / "curves.png"), data


def grpo_reward_line(data: dict) -> str | None:
    """How GRPO's answer reward moved: the mean `vrt_answer_iou` of its first vs its last half of steps."""
    from pipelines.curves import halves

    points = data.get("grpo", {}).get(ANSWER_REWARD, [])
    if (change := halves(points)) is None:
        return None
    half = len(points) // 2
    first, last = f"{points[0][0]}-{points[half - 1][0]}", f"{points[-half][0]}-{points[-1][0]}"
    return (f"GRPO answer reward (vrt_answer_iou, mean per step): steps {first} {change[0]:.3f} -> "
            f"steps {last} {change[1]:.3f} ({change[1] - change[0]:+.3f})")


def mask_areas(answer: dict) -> list[int]:
    """Foreground pixels of each answer object's mask (0: the model segmented nothing for that [SEG])."""
    from pycocotools import mask as mask_utils

    return [
        int(mask_utils.area({"size": o["mask"]["size"], "counts": o["mask"]["counts"].encode("ascii")}))
        for o in answer.get("objects", [])
    ]


def print_summary(run: LocalRun, out_dir: Path = Path(".vrt/demo")) -> None:
    console = Console()
    console.print(dataset_table(run))
    console.print(metrics_table(json.loads(Path(run.metrics_path).read_text())))
    console.print(f"report: {run.report_path}")
    console.print(reasonseg_table(json.loads(Path(run.reasonseg_metrics_path).read_text())))
    rules = reasonseg_params(run)
    console.print(f"ReasonSeg scoring: --empty {rules.get('reasonseg_empty', '?')} --ignore "
                  f"{rules.get('reasonseg_ignore', '?')}; report: {run.reasonseg_report_path}", soft_wrap=True)
    curves, data = learning_curves(run, out_dir)
    if curves:
        console.print(f"learning curves: {curves.resolve()} (also an artifact of the MLflow run)")
    if line := grpo_reward_line(data):
        console.print(line, highlight=False)
    console.print(f"registered: [bold]{run.model_uri}[/bold]  alias: [bold]{run.alias}[/bold]")
    console.print(f"endpoint: [bold]{run.endpoint}[/bold] (v1 /v1/models/{run.server_name}:predict, "
                  f"v2 /v2/models/{run.server_name}/infer; stop it with `vrt serve --stop {run.server_name}`)")
    request, answer, overlay = sample_request(run, out_dir)
    question = request["instances"][0]["question"]
    console.print(f"sample request: POST {run.endpoint}/v1/models/{run.server_name}:predict "
                  f'{{"instances": [{{"image_b64": "<{len(request["instances"][0]["image_b64"])} chars>", '
                  f'"question": "{question}", "overlay": true}}]}}', soft_wrap=True)
    roles = [o["role"] for o in answer.get("objects", [])]
    console.print(f"answer: {answer['text']!r}", soft_wrap=True, highlight=False)
    console.print(f"objects: {len(roles)} ({roles.count('reasoning')} reasoning, {roles.count('answer')} answer); "
                  f"mask pixels {mask_areas(answer)}")
    if overlay:
        console.print(f"overlay: {overlay.resolve()}")
    console.print(f"MLflow run {run.mlflow_run_id} (mlflow ui --backend-store-uri sqlite:///.vrt/mlflow.db)")
    console.print(f"[bold green]pipeline finished in {run.seconds:.0f} s[/bold green]")
