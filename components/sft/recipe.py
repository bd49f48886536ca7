"""SFT recipe, run in every Ray Train worker (or every process, without Ray): setup / train / cleanup.

One explicit loop: for each optimizer step, `grad_accum` micro-batches forward + backward
through the engine (DeepSpeed or DDP), metrics (and each source's, components/sft/metrics.py)
all-reduced and logged by rank 0, a
checkpoint reported every `checkpoint_every` steps by every rank (components/sft/worker.py),
then a final checkpoint, a teacher-forced evaluation and the model export.
`train_loop_per_worker(config)` is what TorchTrainer runs (or launch.py in-process when
config["launcher"] is "none"); config comes from launch.py.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from components.sft import checkpoint as ckpt
from components.sft.config import config_from_raw
from components.sft.ingest import MicroBatchSource, RowSource, micro_batch_loader, open_dataset
from components.sft.metrics import MlflowSink, SourceMetrics, StepMetrics
from components.sft.mixture import MixturePlan, MixtureRows, step_source_counts
from vrt import storage

FAULT_MARKER = "fault_injected"


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """Tensors (and lists of tensors) of a collated batch on `device`."""
    def move(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v.to(device, non_blocking=True)
        if isinstance(v, list) and v and isinstance(v[0], torch.Tensor):
            return [t.to(device, non_blocking=True) for t in v]
        return v

    return {k: move(v) for k, v in batch.items()}


class SFTRecipe:
    """State of one worker's training run."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.job = config
        self.cfg = config_from_raw(config["raw"], config["source"])
        self.sft = self.cfg.sft
        self.run_dir: str = config["run_dir"]
        self.rng_state: torch.Tensor | None = None
        self.eval_before: dict[str, float] = {}
        self.worker: Any = None
        self.sink: MlflowSink | None = None

    def setup(self) -> None:
        """Model, engine, data plan, and the state of a checkpoint when there is one to resume."""
        from components.sft.engines import make_engine
        from components.sft.worker import make_worker
        from models import RSa2VA, load_preset

        os.environ.setdefault("DS_ACCELERATOR", "cuda" if self.sft.use_gpu else "cpu")
        self.worker = make_worker(self.job, self.sft.use_gpu, self.sft.keep_checkpoints, self.sft.num_workers)
        self.rank, self.world, self.device = self.worker.rank, self.worker.world, self.worker.device
        torch.manual_seed(self.sft.seed)
        model = RSa2VA.from_preset(load_preset(self.cfg.model), seed=self.sft.seed).to(self.device)
        self.processor = model.processor
        self.rows = MixtureRows.open(self.sft.mixture, "sft.datasets")
        self.plan = MixturePlan.for_mixture(self.rows, self.sft.global_batch_size, self.world, self.sft.grad_accum,
                                            self.sft.seed, self.sft.loader_workers)
        self.total = self.sft.max_steps or self.sft.epochs * self.plan.steps_per_epoch
        self.engine = make_engine(model, self.sft, self.total)
        self.expect = {"world": self.world, "global_batch_size": self.sft.global_batch_size,
                       "dataset_sha256": self.rows.digest, "strategy": self.sft.strategy, "seed": self.sft.seed,
                       "loader_workers": self.sft.loader_workers}  # the data plan depends on it
        self.step = self._restore()
        tracked = self.rank == 0 and bool(self.job["run_id"])  # no run id: untracked (the GPU check kit)
        self.sink = MlflowSink(self.job["run_id"], self.job["tracking_uri"]) if tracked else None

    def _restore(self) -> int:
        with self.worker.restart_checkpoint() as restarted:
            if restarted is not None:  # Ray Train restarted this run's workers after a failure
                return self._load(restarted)
        # a checkpoint on storage that the controller had not registered when a worker died
        uri = ckpt.latest_in_run(self.run_dir) or self.job["resume"]
        if uri:
            with tempfile.TemporaryDirectory(prefix="vrt-sft-resume-") as tmp:
                return self._load(storage.download_dir(uri, tmp))
        return 0

    def _load(self, directory: Path) -> int:
        state, self.rng_state = ckpt.read_state(directory, self.rank, self.expect)
        self.engine.load(directory)
        self.eval_before = state.get("eval_before", {})
        return int(state["step"])

    def train(self) -> None:
        """The loop: evaluate, train to `total` steps with periodic checkpoints, evaluate, export."""
        if self.step == 0:
            self.eval_before = self.evaluate()
            self._log(self.eval_before, 0, "eval_")
        source = MicroBatchSource(self.rows, self.plan, self.rank, self.step, self.total,
                                  lambda samples: self.processor.collate(samples, train=True))
        batches = micro_batch_loader(source, self.sft.loader_workers)
        if self.rng_state is not None:  # after the loader drew its seed, as in an uninterrupted run
            torch.set_rng_state(self.rng_state)
        self.engine.module.train()
        while self.step < self.total:
            values = self._train_step(batches)
            self.step += 1
            self._log(values, self.step)
            self._maybe_fault()
            if self.step % self.sft.checkpoint_every == 0 or self.step == self.total:
                self.save_checkpoint(values)
        self.finish()

    def _train_step(self, batches) -> dict[str, float]:
        acc, start, grad_norm, lr = StepMetrics(), time.perf_counter(), 0.0, self.engine.lr()
        per_source = SourceMetrics(self.rows.names)
        micros = self.plan.micro_batches(self.step, self.rank)
        for micro in range(self.sft.grad_accum):
            batch, n_real = next(batches)
            batch = to_device(batch, self.device)
            out = self.engine.forward(batch)
            self.engine.backward(out.loss if n_real else out.loss * 0.0)
            stepped, norm = self.engine.step()
            grad_norm = norm if stepped else grad_norm
            acc.add(out, n_real, int(batch["attention_mask"].sum()) if n_real else 0)
            per_source.add(out, batch, [self.rows.source_of(shard) for shard, _ in micros[micro][:n_real]])
        values = acc.reduce(time.perf_counter() - start) | per_source.reduce()
        counts = step_source_counts(self.plan, self.step, self.rank)
        values |= {f"samples/{name}": float(n) for name, n in zip(self.rows.names, counts, strict=True)}
        return values | {"grad_norm": grad_norm, "lr": lr, "epoch": self.step / self.plan.steps_per_epoch}

    def _log(self, values: dict[str, float], step: int, prefix: str = "") -> None:
        if self.sink is not None:
            self.sink.log(values, step, prefix)

    def _maybe_fault(self) -> None:
        """Chaos test (sft.fault_at_step): the last worker dies once, Ray Train restarts the group."""
        if self.step != self.sft.fault_at_step or self.rank != self.world - 1 or self.world < 2:
            return
        marker = storage.join(self.run_dir, FAULT_MARKER)
        if storage.exists(marker):
            return
        storage.write_bytes(marker, f"worker {self.rank} killed at step {self.step}\n".encode())
        os._exit(1)

    def save_checkpoint(self, values: dict[str, float]) -> None:
        """Every rank writes its files and reports them; they are merged under step_NNNNNNN."""
        with tempfile.TemporaryDirectory(prefix="vrt-sft-ckpt-") as tmp:
            self.engine.save(Path(tmp))
            state = {"step": self.step, "eval_before": self.eval_before, **self.expect}
            ckpt.write_state(Path(tmp), self.rank, state)
            self.worker.report({"step": self.step, **values}, Path(tmp), self.run_dir, self.step)

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Teacher-forced loss and mask IoU on the eval dataset (every rank takes a slice)."""
        if not self.job.get("eval_dataset"):
            return {}
        manifest = open_dataset(self.job["eval_dataset"])
        rows = RowSource(self.job["eval_dataset"], manifest)
        refs = [(s, r) for s, shard in enumerate(manifest.shards) for r in range(shard.rows)][: self.sft.eval_samples]
        mine = refs[self.rank :: self.world]
        size = self.sft.micro_batch_size
        n_batches = math.ceil(math.ceil(len(refs) / self.world) / size)  # the same on every rank
        module, acc = self.engine.module, StepMetrics()
        module.eval()
        for i in range(n_batches):
            chunk = mine[i * size : (i + 1) * size]
            batch = to_device(self.processor.collate(rows.rows(chunk or refs[:1]), train=True), self.device)
            acc.add(module(**batch), len(chunk), int(batch["attention_mask"].sum()))
        module.train()
        values = acc.reduce(1.0)
        return {k: values[k] for k in ("loss", "loss_ce", "loss_mask_bce", "loss_mask_dice", "mask_iou")}

    def finish(self) -> None:
        """Evaluate the trained model and export it (rank 0) with its manifest."""
        import torch.distributed as dist

        from components.sft.export import export_model

        after = self.evaluate()
        self._log(after, self.step, "eval_")
        with self.engine.full_state_context():
            if self.rank == 0:
                for tensor in [*self.engine.module.parameters(), *self.engine.module.buffers()]:
                    tensor.data = tensor.data.clone()  # out of the engine's flat buffers: safetensors saves views badly
                lineage = {"dataset": self.rows.label, "dataset_sha256": self.expect["dataset_sha256"],
                           "config": self.cfg.source, "mlflow_run_id": self.job["run_id"],
                           "resumed_from": self.job["resume"], "base": f"preset:{self.cfg.model}"}
                metrics = {f"eval_{k}": v for k, v in after.items()}
                metrics |= {f"eval_before_{k}": v for k, v in self.eval_before.items()}
                export_model(self.engine.module, self.run_dir, self.step, self.cfg.model, lineage, metrics)
        if dist.is_initialized():
            dist.barrier()

    def cleanup(self) -> None:
        if self.sink is not None:
            self.sink.close()
        if self.worker is not None:
            self.worker.close()


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Entry point of every Ray Train worker, and of this process with `launcher: none`."""
    recipe = SFTRecipe(config)
    try:
        recipe.setup()
        recipe.train()
    finally:
        recipe.cleanup()
