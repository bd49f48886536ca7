"""Per-step training metrics: summed over micro-batches and workers, logged to MLflow by rank 0.

    acc = StepMetrics(); acc.add(out, n_samples, n_tokens)    # every micro-batch, every rank
    values = acc.reduce(seconds)                               # all-reduce: identical on every rank
    per = SourceMetrics(["vrt-80k", "vgr"]); per.add(out, batch, sources)   # source index per real row
    values |= per.reduce()                                     # loss_ce/vrt-80k, loss_mask_box/vgr, ...
    sink = MlflowSink(run_id) on rank 0; sink.log(values, step)

Per-source terms are computed per row from the forward's outputs (no second forward): CE summed over
the row's target tokens (a source's `loss_ce/<name>` is its token-weighted mean, as the batch CE is),
and the mask terms on every mask of the row at mask_loss_size (dense, whatever points the training loss
sampled): BCE, Dice and IoU per mask target, the box projection loss per box target, each a mean over
that source's targets in the step.
"""

from __future__ import annotations

from typing import Any

import torch

KEYS = ("loss", "loss_ce", "loss_mask_bce", "loss_mask_dice", "mask_iou")


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """`values` summed over every rank (a copy on the CPU; `values` itself when not distributed). The
    reduction runs where the backend can: on this rank's CUDA device for nccl, which takes no CPU tensor."""
    import torch.distributed as dist

    if not dist.is_initialized():
        return values
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    total = values.to(device, copy=True)
    dist.all_reduce(total)
    return total.cpu()


class StepMetrics:
    """Sample-weighted sums of the loss terms and mask IoU of one optimizer step on one rank."""

    def __init__(self) -> None:
        self.sums = torch.zeros(len(KEYS) + 3, dtype=torch.float64)  # + iou weight, samples, tokens

    def add(self, out: Any, samples: int, tokens: int) -> None:
        if samples == 0:
            return
        for i, key in enumerate(KEYS):
            value = getattr(out, key)
            if value is not None:
                self.sums[i] += float(value.detach()) * samples
        if out.mask_iou is not None:
            self.sums[len(KEYS)] += samples
        self.sums[-2] += samples
        self.sums[-1] += tokens

    def reduce(self, seconds: float) -> dict[str, float]:
        """Means over every rank's samples, plus samples/s and tokens/s of the whole step."""
        sums = all_reduce_sum(self.sums)
        samples, tokens = float(sums[-2]), float(sums[-1])
        values = {k: float(sums[i]) / max(samples, 1.0) for i, k in enumerate(KEYS[:-1])}
        values["mask_iou"] = float(sums[len(KEYS) - 1]) / max(float(sums[len(KEYS)]), 1.0)
        values |= {"samples": samples, "samples_per_s": samples / seconds, "tokens_per_s": tokens / seconds,
                   "step_time_s": seconds}
        return values


SOURCE_TERMS = ("loss_ce", "loss_mask_bce", "loss_mask_dice", "mask_iou", "loss_mask_box")
_COUNT_OF = {"loss_ce": 0, "loss_mask_bce": 1, "loss_mask_dice": 1, "mask_iou": 1, "loss_mask_box": 2}


@torch.no_grad()
def row_terms(out: Any, batch: dict[str, Any], row: int) -> list[float]:
    """Sums of one row's loss terms and their counts: [ce, bce, dice, iou, box, tokens, masks, boxes]."""
    from models.losses import box_projection_loss, mask_bce, mask_dice, mask_iou

    mine = out.token_rows == row
    sums = [float(out.token_ce[mine].sum()), 0.0, 0.0, 0.0, 0.0, float(mine.sum()), 0.0, 0.0]
    pred = out.pred_masks[row] if out.pred_masks else None
    if pred is None or pred.shape[0] == 0 or "gt_masks" not in batch:
        return sums
    target = batch["gt_masks"][row].to(pred.device)
    boxes = batch.get("gt_is_box")
    boxed = boxes[row].to(pred.device) if boxes else torch.zeros(pred.shape[0], dtype=torch.bool, device=pred.device)
    n_mask, n_box = int((~boxed).sum()), int(boxed.sum())
    if n_mask:
        sums[1:4] = [float(f(pred[~boxed], target[~boxed])) * n_mask for f in (mask_bce, mask_dice, mask_iou)]
    if n_box:
        sums[4] = float(box_projection_loss(pred[boxed], target[boxed])) * n_box
    sums[6:8] = [float(n_mask), float(n_box)]
    return sums


class SourceMetrics:
    """Per-source sums of the loss terms of one optimizer step on one rank (see the module docstring)."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.sums = torch.zeros(len(names), 8, dtype=torch.float64)

    def add(self, out: Any, batch: dict[str, Any], sources: list[int]) -> None:
        """The first len(sources) rows of `batch` (its real rows), row i from source `sources[i]`."""
        for row, source in enumerate(sources):
            self.sums[source] += torch.tensor(row_terms(out, batch, row), dtype=torch.float64)

    def reduce(self) -> dict[str, float]:
        """`<term>/<source>` means over every rank's rows; a term with nothing to average is left out."""
        sums = all_reduce_sum(self.sums)
        values = {}
        for i, name in enumerate(self.names):
            for j, term in enumerate(SOURCE_TERMS):
                count = float(sums[i, 5 + _COUNT_OF[term]])
                if count > 0:
                    values[f"{term}/{name}"] = float(sums[i, j]) / count
        return values


class MlflowSink:
    """Logs metric dicts to one MLflow run (rank 0 only) and samples system metrics while open."""

    def __init__(self, run_id: str, tracking_uri: str, system_metrics: bool = True) -> None:
        import mlflow
        from mlflow import MlflowClient

        mlflow.set_tracking_uri(tracking_uri)
        self.client, self.run_id = MlflowClient(tracking_uri), run_id
        self.monitor = None
        if system_metrics:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            self.monitor = SystemMetricsMonitor(run_id, sampling_interval=1, samples_before_logging=1)
            self.monitor.start()

    def log(self, values: dict[str, float], step: int, prefix: str = "") -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(f"{prefix}{k}", float(v), now, step) for k, v in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics, synchronous=True)

    def close(self) -> None:
        if self.monitor is not None:
            self.monitor.finish()
            self.monitor = None
