"""Training engines behind one interface: DeepSpeed (ZeRO 0-3) and torch DDP.

    engine = make_engine(model, sft, total_steps)        # inside a Ray Train worker
    out = engine.forward(batch); engine.backward(out.loss)
    stepped, grad_norm = engine.step()                    # True at a gradient-accumulation boundary
    engine.save(local_dir); engine.load(local_dir)        # every rank calls both

DeepSpeed runs on CPU with gloo (DS_ACCELERATOR=cpu) in fp32 and on GPU in bf16; the
optimizer is torch's AdamW, and on CPU no DeepSpeed op is built or probed (`skip_cpu_op_builds`). DeepSpeed checkpoints leave frozen
weights out. DDP checkpoints are safetensors (trainable weights, optimizer tensors) + JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from components.sft.config import SFTConfig


def lr_lambda(warmup: int, total: int):
    """Linear warm-up to the peak over `warmup` steps, then cosine to 0 at `total`."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def param_groups(model: nn.Module, lr: float, vlm_lr_scale: float) -> list[dict[str, Any]]:
    """The trainable parameters as optimizer groups: one at `lr`, or with `vlm_lr_scale` != 1 two, the first
    (everything but Qwen3-VL: SAM 2, the `[SEG]` projection) at `lr` and Qwen3-VL's at `lr * vlm_lr_scale`."""
    params = [p for p in model.parameters() if p.requires_grad]
    vlm = getattr(model, "vlm", None)
    if vlm_lr_scale == 1.0 or vlm is None:
        return [{"params": params, "lr": lr}]
    inside = {id(p) for p in vlm.parameters()}
    groups = [
        {"params": [p for p in params if id(p) not in inside], "lr": lr},
        {"params": [p for p in params if id(p) in inside], "lr": lr * vlm_lr_scale},
    ]
    return [g for g in groups if g["params"]]


def persistent_buffers(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's buffers that its state dict carries (running statistics, not the recomputed RoPE tables)."""
    keys = model.state_dict(keep_vars=True).keys()
    return {n: b for n, b in model.named_buffers() if n in keys}


def _optimizer_and_schedule(model: nn.Module, sft: SFTConfig, total_steps: int):
    groups = param_groups(model, sft.lr, sft.vlm_lr_scale)
    optimizer = torch.optim.AdamW(groups, lr=sft.lr, weight_decay=sft.weight_decay, betas=tuple(sft.adam_betas))
    warmup = math.ceil(sft.warmup_ratio * total_steps)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(warmup, total_steps))


def skip_cpu_op_builds() -> None:
    """On CPU, no DeepSpeed op is JIT-built: gloo does the all-reduce and torch's AdamW the update.

    Without this, the first `deepspeed.initialize` of a machine probes every op with compiler
    subprocesses and compiles the shared-memory all-reduce op (`deepspeed_shm_comm`, ~30 s of g++).
    """
    import deepspeed.ops

    vars(deepspeed.ops).setdefault("__compatible_ops__", {})["deepspeed_shm_comm"] = False


class DeepSpeedEngine:
    """deepspeed.initialize around the model; DeepSpeed does accumulation, clipping and the LR schedule."""

    TAG = "ds"

    def __init__(self, model: nn.Module, sft: SFTConfig, total_steps: int) -> None:
        import deepspeed

        if not sft.use_gpu:
            skip_cpu_op_builds()
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer, scheduler = _optimizer_and_schedule(model, sft, total_steps)
        config = {
            "train_micro_batch_size_per_gpu": sft.micro_batch_size,
            "gradient_accumulation_steps": sft.grad_accum,
            "gradient_clipping": sft.grad_clip,
            "zero_optimization": {"stage": sft.zero_stage},
            "bf16": {"enabled": sft.use_gpu},
            "steps_per_print": 10**9,
            "wall_clock_breakdown": False,
        }
        self.engine, _, _, self.scheduler = deepspeed.initialize(
            model=model, model_parameters=params, optimizer=optimizer, lr_scheduler=scheduler, config=config
        )
        self.zero_stage = sft.zero_stage

    @property
    def module(self) -> nn.Module:
        return self.engine.module

    def forward(self, batch: dict[str, Any]) -> Any:
        return self.engine(**batch)

    def backward(self, loss: torch.Tensor) -> None:
        self.engine.backward(loss)

    def step(self) -> tuple[bool, float]:
        boundary = self.engine.is_gradient_accumulation_boundary()
        self.engine.step()
        norm = self.engine.get_global_grad_norm() if boundary else None
        return boundary, float(norm) if norm is not None else 0.0

    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    def save(self, directory: Path) -> None:
        self.engine.save_checkpoint(str(directory), tag=self.TAG, exclude_frozen_parameters=True)

    def load(self, directory: Path) -> None:
        path, _ = self.engine.load_checkpoint(
            str(directory), tag=self.TAG, load_module_strict=False, load_optimizer_states=True,
            load_lr_scheduler_states=True,
        )
        if path is None:
            raise ValueError(f"{directory} holds no DeepSpeed checkpoint (tag {self.TAG!r})")

    def full_state_context(self):
        """Context in which rank 0 sees every weight (ZeRO-3 gathers partitions)."""
        import contextlib

        import deepspeed

        if self.zero_stage == 3:
            return deepspeed.zero.GatheredParameters(list(self.module.parameters()), modifier_rank=None)
        return contextlib.nullcontext()


class DDPEngine:
    """torch DistributedDataParallel (or the bare model with one worker) with manual accumulation."""

    def __init__(self, model: nn.Module, sft: SFTConfig, total_steps: int) -> None:
        import torch.distributed as dist

        self.model = model
        self.world = dist.get_world_size() if dist.is_initialized() else 1
        self.wrapped = nn.parallel.DistributedDataParallel(model) if self.world > 1 else model
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer, self.scheduler = _optimizer_and_schedule(model, sft, total_steps)
        self.accum, self.clip, self.micro = sft.grad_accum, sft.grad_clip, 0

    @property
    def module(self) -> nn.Module:
        return self.model

    def forward(self, batch: dict[str, Any]) -> Any:
        import contextlib

        last = (self.micro + 1) % self.accum == 0
        # DDP decides in forward whether this micro-batch's backward all-reduces
        with contextlib.nullcontext() if last or self.world == 1 else self.wrapped.no_sync():
            return self.wrapped(**batch)

    def backward(self, loss: torch.Tensor) -> None:
        (loss / self.accum).backward()

    def step(self) -> tuple[bool, float]:
        self.micro += 1
        if self.micro % self.accum:
            return False, 0.0
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return True, float(norm)

    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    def save(self, directory: Path) -> None:
        import torch.distributed as dist
        from safetensors.torch import save_file

        if dist.is_initialized() and dist.get_rank() != 0:
            return
        names = {id(p): n for n, p in self.model.named_parameters()}
        tensors = {names[id(p)]: p.detach().contiguous() for p in self.params}
        tensors |= {n: b.contiguous() for n, b in persistent_buffers(self.model).items()}  # e.g. running stats
        save_file(tensors, str(directory / "trainable.safetensors"))
        state = self.optimizer.state_dict()
        tensors = {f"{i}.{k}": v.contiguous() for i, s in state["state"].items() for k, v in s.items()}
        save_file(tensors, str(directory / "optimizer.safetensors"))
        meta = {"param_groups": state["param_groups"], "scheduler": self.scheduler.state_dict()}
        (directory / "optimizer.json").write_text(json.dumps(meta))

    def load(self, directory: Path) -> None:
        from safetensors.torch import load_file

        weights = load_file(str(directory / "trainable.safetensors"))
        params = dict(self.model.named_parameters()) | persistent_buffers(self.model)
        with torch.no_grad():
            for name, value in weights.items():
                params[name].copy_(value)
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in load_file(str(directory / "optimizer.safetensors")).items():
            index, name = key.split(".", 1)
            state.setdefault(int(index), {})[name] = value
        meta = json.loads((directory / "optimizer.json").read_text())
        self.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
        self.scheduler.load_state_dict(meta["scheduler"])

    def full_state_context(self):
        import contextlib

        return contextlib.nullcontext()


def make_engine(model: nn.Module, sft: SFTConfig, total_steps: int) -> DeepSpeedEngine | DDPEngine:
    """The engine `sft.strategy` names."""
    if sft.strategy == "deepspeed":
        return DeepSpeedEngine(model, sft, total_steps)
    return DDPEngine(model, sft, total_steps)
