"""Per-step training metrics: summed over micro-batches and workers, logged to MLflow by rank 0.

    acc = StepMetrics(); acc.add(out, n_samples, n_tokens)    # every micro-batch, every rank
    values = acc.reduce(seconds)                               # all-reduce: identical on every rank
    sink = MlflowSink(run_id) on rank 0; sink.log(values, step)
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
