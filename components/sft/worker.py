"""Where a training recipe runs: inside a Ray Train worker, or in this process without Ray.

Both give the recipe the same four things: its rank and world size, its device, the checkpoint
a restart hands back (Ray's FailureConfig only), and `report`, which stores a step's checkpoint
directory under `<run_dir>/step_NNNNNNN/` (every rank calls it with its own files).

    worker = make_worker(job, use_gpu, keep, num_workers)   # job["launcher"] == "none": ProcessWorker
    worker.rank, worker.world, worker.device; worker.report(metrics, tmp_dir, run_dir, step); worker.close()

ProcessWorker reads torchrun's RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT when
WORLD_SIZE is set, and otherwise starts a process group of one on loopback (DeepSpeed and the
metrics' all-reduce expect one), kept for the process's life; `close()` restores the environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from components.sft.checkpoint import STATE_FILE, step_dir_name
from vrt import storage
from vrt.errors import UserError

TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


class RayWorker:
    """A Ray Train worker: rank, device and checkpoints from Ray Train's context."""

    def __init__(self, use_gpu: bool) -> None:
        import ray.train
        from ray.train.torch import get_device

        ctx = ray.train.get_context()
        self.rank, self.world = ctx.get_world_rank(), ctx.get_world_size()
        self.device = get_device() if use_gpu else torch.device("cpu")

    @contextlib.contextmanager
    def restart_checkpoint(self) -> Iterator[Path | None]:
        """The directory of the checkpoint Ray hands a restarted worker group (None on a first start)."""
        import ray.train

        reported = ray.train.get_checkpoint()
        if reported is None:
            yield None
            return
        with reported.as_directory() as d:
            yield Path(d)

    def report(self, metrics: dict[str, float], directory: Path, run_dir: str, step: int) -> None:
        """Ray Train stores this rank's files under <run_dir>/step_NNNNNNN (storage_path/run name)."""
        import ray.train
        from ray.train import Checkpoint

        ray.train.report(metrics, checkpoint=Checkpoint.from_directory(str(directory)),
                         checkpoint_dir_name=step_dir_name(step))

    def close(self) -> None:
        """Ray Train owns the process group."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ProcessWorker:
    """This process as one rank (torchrun's environment) or as the only one; checkpoints copied to storage."""

    def __init__(self, use_gpu: bool, keep: int, expected_world: int) -> None:
        import torch.distributed as dist

        self.keep, self.saved_env = keep, {k: os.environ.get(k) for k in TORCHRUN_ENV}
        if "WORLD_SIZE" not in os.environ:
            os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1",
                              MASTER_PORT=str(_free_port()))
        self.rank, self.world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if self.world != expected_world:
            raise UserError(
                f"launcher none runs {self.world} process(es) (WORLD_SIZE) but the config asks for "
                f"num_workers={expected_world}: set num_workers={self.world} or start {expected_world} processes"
            )
        if use_gpu:
            if not torch.cuda.is_available():
                raise UserError("use_gpu is true but this process sees no CUDA device: set use_gpu=false")
            torch.cuda.set_device(local_rank)
            self.device = torch.device("cuda", local_rank)
        else:
            self.device = torch.device("cpu")
        if not dist.is_initialized():  # kept for the process's life: DeepSpeed caches groups made from it
            dist.init_process_group("nccl" if use_gpu else "gloo", rank=self.rank, world_size=self.world)

    @contextlib.contextmanager
    def restart_checkpoint(self) -> Iterator[Path | None]:
        """No supervisor restarts this process: a rerun resumes from storage (the recipe's own lookup)."""
        yield None

    def report(self, metrics: dict[str, float], directory: Path, run_dir: str, step: int) -> None:
        """Copy this rank's files to <run_dir>/step_NNNNNNN; rank 0 then keeps the newest `keep` steps."""
        import torch.distributed as dist

        storage.upload_dir(directory, storage.join(run_dir, step_dir_name(step)))
        dist.barrier()
        if self.rank == 0:
            self._prune(run_dir)

    def _prune(self, run_dir: str) -> None:
        steps = sorted({n.split("/", 1)[0] for n in storage.list_names(run_dir)
                        if n.startswith("step_") and n.endswith(f"/{STATE_FILE}")})
        for old in steps[: max(0, len(steps) - self.keep)]:
            prefix = storage.join(run_dir, old)
            if not storage.is_s3(prefix):
                shutil.rmtree(prefix)
                continue
            for name in storage.list_names(prefix):
                storage.delete(storage.join(prefix, name))

    def close(self) -> None:
        """Restore the environment this worker set (the process group stays, for a next run in this process)."""
        for key, value in self.saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def make_worker(job: dict[str, Any], use_gpu: bool, keep: int, num_workers: int) -> RayWorker | ProcessWorker:
    """The worker the job's launcher implies: `none` (this process) or Ray Train (the default)."""
    if job.get("launcher") == "none":
        return ProcessWorker(use_gpu, keep, num_workers)
    return RayWorker(use_gpu)
