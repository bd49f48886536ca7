"""The GPU checks, one function per check; run one per process (benchmarks/gpu/run.sh gives each a time budget).

    python -m benchmarks.gpu.checks sft --preset 4b --out /tmp/figs/sft-4b.json     # on the GPU machine
    python -m benchmarks.gpu.checks sft --preset 4b --cpu --out /tmp/figs/sft.json  # CPU dry-run: tiny preset

Each check writes its figures to `--out` (JSON) as it measures them, so a check stopped by its
budget still leaves what it had. `--cpu` runs the same code on the CPU with the tiny preset and
small sizes (fp32 where the GPU run uses bf16, except the correctness check, which compares bf16 to
fp32 on whichever device). Timings synchronize the device before reading the clock.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmarks.gpu import arch

GIB = 2**30


@dataclass
class Ctx:
    """Where a check runs and where its figures go."""

    cpu: bool
    preset: str
    out: Path
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return torch.device("cpu" if self.cpu else "cuda")

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32 if self.cpu else torch.bfloat16

    @property
    def model(self) -> str:
        """The preset a model check builds: the asked one on GPU, tiny on the CPU dry-run."""
        return "tiny" if self.cpu else self.preset

    @property
    def image_side(self) -> int:
        return 128 if self.cpu else 1024

    def record(self, **figures: Any) -> None:
        self.figures.update(figures)
        self.out.write_text(json.dumps(self.figures, indent=2, sort_keys=True))

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()


def _median_s(ctx: Ctx, fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        ctx.sync()
        start = time.perf_counter()
        fn()
        ctx.sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_gib(ctx: Ctx) -> float:
    if ctx.device.type == "cuda":
        return torch.cuda.max_memory_allocated() / GIB
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB  # this process's peak RSS


def _reset_peak(ctx: Ctx) -> None:
    if ctx.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak(ctx: Ctx) -> None:
    """The dense matmul rate of this card (bf16 8192³, random data; CPU: fp32 512³): the MFU denominator."""
    n = 512 if ctx.cpu else 8192
    gen = torch.Generator(ctx.device).manual_seed(0)
    a, b = (torch.randn(n, n, device=ctx.device, dtype=ctx.dtype, generator=gen) for _ in range(2))
    seconds = _median_s(ctx, lambda: a @ b, repeats=10, warmup=3)
    ctx.record(matmul_n=n, matmul_dtype=str(ctx.dtype).removeprefix("torch."), matmul_tflops=2 * n**3 / seconds / 1e12,
               device_name=torch.cuda.get_device_name() if not ctx.cpu else "cpu")


def correctness(ctx: Ctx) -> None:
    """Tiny model on the device vs fp32 on the CPU: bf16 logits and mask logits, masks decoded in fp32 and bf16.

    The IoU limit holds for fp32 on the device; bf16 masks are reported beside it (a random model's mask
    logits sit near 0, so bf16 rounding flips threshold pixels: measured 0.98 on the CPU).
    """
    from pycocotools import mask as mask_utils

    from components.sft.recipe import to_device

    ref = arch.build("tiny", torch.device("cpu"), torch.float32).eval()
    sample = arch.synth_sample(128)
    batch = ref.processor.collate([sample], train=True)
    labels = batch["labels"][0]
    completion = labels[labels != -100].tolist()
    image, question = arch.sample_image(sample), sample["question"]
    with torch.no_grad():
        want = ref(**batch)
    (cpu_trace,) = ref.masks_for_sequences([image], [question], [completion])

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a.float().cpu() - b).norm() / b.norm())

    for dtype, tag in ((torch.float32, "_fp32"), (torch.bfloat16, "")):
        dev = arch.build("tiny", torch.device("cpu"), dtype)
        dev.load_state_dict(ref.state_dict())  # the reference's weights, rounded to dtype (as from_pretrained loads)
        dev = dev.to(ctx.device).eval()
        with torch.no_grad():
            got = dev(**to_device(batch, ctx.device))
        (dev_trace,) = dev.masks_for_sequences([image], [question], [completion])
        ious = [float(mask_utils.iou([a], [b], [0])[0][0])
                for a, b in zip(dev_trace.masks, cpu_trace.masks, strict=True)]
        ctx.record(**{f"logits_rel_err{tag}": rel(got.logits, want.logits),
                      f"mask_logits_rel_err{tag}": rel(torch.cat(got.pred_masks), torch.cat(want.pred_masks)),
                      f"mask_iou_min{tag or '_bf16'}": min(ious) if ious else float("nan"),
                      "masks_compared": len(ious)})


def _engine(model, ctx: Ctx, lr: float = 4e-5):
    """The recipe's DeepSpeed ZeRO-2 engine for one process (the no-Ray worker's process group)."""
    from components.sft.config import SFTConfig
    from components.sft.engines import make_engine

    sft = SFTConfig(strategy="deepspeed", zero_stage=2, num_workers=1, use_gpu=not ctx.cpu, micro_batch_size=1,
                    global_batch_size=1, lr=lr, weight_decay=0.05, warmup_ratio=0.0, grad_clip=1.0)
    return make_engine(model, sft, total_steps=1000)


def sft_step(ctx: Ctx) -> None:
    """One SFT step (forward, backward, optimizer) on a ~2,000-token sequence: time, tokens/s, memory, FLOPs."""
    from torch.utils.flop_counter import FlopCounterMode

    from benchmarks.gpu.flops import lora_step_flops, model_counts
    from components.sft.recipe import to_device
    from components.sft.worker import ProcessWorker

    os.environ.setdefault("DS_ACCELERATOR", "cpu" if ctx.cpu else "cuda")
    ProcessWorker(use_gpu=not ctx.cpu, keep=1, expected_world=1)
    model = arch.build(ctx.model, ctx.device, ctx.dtype)
    sample = arch.long_sample(model.processor, ctx.image_side, 300 if ctx.cpu else 2000)
    collated = model.processor.collate([sample], train=True)
    stats = arch.seq_stats(model.processor, collated)
    batch = to_device(collated, ctx.device)
    params = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    ctx.record(preset=ctx.model, **stats, params_total=params, params_trainable=trainable)
    engine = _engine(model, ctx)
    engine.module.train()

    def step() -> None:
        out = engine.forward(batch)
        engine.backward(out.loss)
        engine.step()

    step()
    _reset_peak(ctx)
    seconds = _median_s(ctx, step, repeats=2 if ctx.cpu else 5, warmup=0)  # warmed up by the step above
    flops = lora_step_flops(model_counts(engine.module), stats["seq_tokens"], stats["patches"])
    ctx.record(step_s=seconds, tokens_per_s=stats["seq_tokens"] / seconds, peak_mem_gib=_peak_gib(ctx),
               model_tflop_per_step=flops / 1e12, model_tflops=flops / seconds / 1e12)
    with FlopCounterMode(display=False) as counter:
        step()
    ctx.record(counted_tflop_per_step=counter.get_total_flops() / 1e12)


def generate(ctx: Ctx) -> None:
    """HF generate (KV cache) tokens/s at batch 1 and 8: the rollout path (`RSa2VA.generate_ids`)."""
    model = arch.build(ctx.model, ctx.device, ctx.dtype).eval()
    image = arch.sample_image(arch.synth_sample(ctx.image_side))
    new = 16 if ctx.cpu else 256
    ctx.record(preset=ctx.model, max_new_tokens=new)
    model.generate_ids([image], ["Which object is the red square?"], max_new_tokens=4)  # warm-up
    for size in (1, 8):
        images, questions = [image] * size, ["Which object is the red square?"] * size
        ctx.sync()
        start = time.perf_counter()
        ids = model.generate_ids(images, questions, max_new_tokens=new, do_sample=True, temperature=1.0)
        ctx.sync()
        seconds = time.perf_counter() - start
        tokens = sum(len(row) for row in ids)
        ctx.record(**{f"batch{size}_tokens": tokens, f"batch{size}_s": seconds, f"batch{size}_tokens_per_s": tokens / seconds})


def grpo_step(ctx: Ctx) -> None:
    """GRPO recipe (no Ray, HF rollouts, ZeRO-2): group 4, 256 new tokens; the generate/masks/reward/update split."""
    import tempfile

    from components.grpo.config import load_grpo_config
    from components.grpo.recipe import GRPORecipe
    from tests.sft.canonical import write_dataset

    tmp = Path(tempfile.mkdtemp(prefix="vrt-gpu-grpo-"))
    start = time.perf_counter()
    model = arch.build(ctx.model, ctx.device, ctx.dtype)
    model.save_pretrained(tmp / "model")  # the recipe loads its initial model from a directory
    del model
    ctx.record(preset=ctx.model, build_and_save_s=time.perf_counter() - start)
    data = write_dataset(tmp / "data", n=2, seed=0, shards=1, size=ctx.image_side)
    new = 16 if ctx.cpu else 256
    overrides = ["grpo.engine=hf", f"grpo.use_gpu={str(not ctx.cpu).lower()}", "grpo.num_workers=1",
                 "grpo.group_size=4", "grpo.prompts_per_step=1", f"grpo.max_new_tokens={new}", "grpo.kl_coef=0.0",
                 "grpo.track_kl=false", "grpo.select_high_variance=0", "grpo.strategy=deepspeed", "grpo.zero_stage=2",
                 f"grpo.dataset={data}", f"grpo.output={tmp / 'out'}", f"init_from={tmp / 'model'}"]
    job = load_grpo_config(ctx.model if ctx.cpu else ctx.preset, overrides)
    recipe = GRPORecipe({"raw": job.raw, "source": job.source, "run_dir": str(tmp / "out" / "run"), "resume": "",
                         "run_id": "", "tracking_uri": "", "datasets": [[str(data), 1.0]], "model_uri": str(tmp / "model"),
                         "launcher": "none"})
    try:
        start = time.perf_counter()
        recipe.setup()
        ctx.record(setup_s=time.perf_counter() - start)  # load the model (CPU, then device), engine, data
        recipe.engine.module.train()
        ctx.record(first_step_s=recipe._train_step()["step_time_s"])  # warm-up
        recipe.step += 1
        values = recipe._train_step()
    finally:
        recipe.cleanup()
    keys = ("time/generate_s", "time/masks_s", "time/reward_s", "time/update_s", "step_time_s",
            "rollout_tokens_per_s", "response_length")
    ctx.record(preset=ctx.model, group_size=4, max_new_tokens=new,
               **{k.removeprefix("time/"): float(values[k]) for k in keys})


def predict(ctx: Ctx) -> None:
    """The serving path in-process (v1 payload -> RSa2VA.predict -> response objects), one image: p50 over 10."""
    import base64
    import io

    from components.deploy.payload import Limits, decode_image, parse_v1
    from components.deploy.response import build_result

    model = arch.build(ctx.model, ctx.device, ctx.dtype).eval()
    new_tokens = 16 if ctx.cpu else 256
    buf = io.BytesIO()
    arch.sample_image(arch.synth_sample(ctx.image_side)).save(buf, format="PNG")
    payload = {"instances": [{"image_b64": base64.b64encode(buf.getvalue()).decode(), "question": "Which object is red?"}]}

    def serve() -> dict:
        (query,) = parse_v1(payload, Limits())
        image = decode_image(query)
        # what VrtPredictor.infer runs (its module needs kserve, which the GPU image lacks)
        (trace,) = model.predict([image], [query.question], max_new_tokens=new_tokens, do_sample=False,
                                 batch_size=8)
        return build_result(trace, image, query.overlay, {})

    result = serve()  # warm-up
    times: list[float] = []
    for _ in range(3 if ctx.cpu else 10):  # recorded as it goes: a budget cut leaves the repeats done
        ctx.sync()
        start = time.perf_counter()
        result = serve()
        ctx.sync()
        times.append(time.perf_counter() - start)
        ctx.record(preset=ctx.model, max_new_tokens=new_tokens, repeats=len(times), p50_s=statistics.median(times),
                   max_s=max(times), objects=len(result["objects"]))


CHECKS: dict[str, Callable[[Ctx], None]] = {
    "peak": peak, "correctness": correctness, "sft": sft_step, "generate": generate, "grpo": grpo_step,
    "predict": predict,
}


def imported_distributions() -> list[str]:
    """The installed distributions (normalised names) whose files this process imported (stdlib and the
    project's own code left out): what the GPU image must hold or the kit must carry."""
    import re
    import sys
    from importlib.metadata import distributions

    loaded = {str(Path(f).resolve()) for m in list(sys.modules.values()) if (f := getattr(m, "__file__", None))}
    found = set()
    for dist in distributions():
        for file in dist.files or ():
            if file.suffix in (".py", ".so") and str(Path(dist.locate_file(file)).resolve()) in loaded:
                found.add(re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower())
                break
    return sorted(found - {"vrt-platform"})


def main(argv: list[str] | None = None) -> None:
    import sys

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=sorted(CHECKS))
    parser.add_argument("--preset", default="tiny", help="model preset of the model checks (GPU run)")
    parser.add_argument("--cpu", action="store_true", help="CPU dry-run: tiny preset, small sizes")
    parser.add_argument("--out", type=Path, required=True, help="JSON file for this check's figures")
    parser.add_argument("--forbid", default="", help="comma-separated packages that must not be imported")
    args = parser.parse_args(argv)
    for name in filter(None, args.forbid.split(",")):
        sys.modules[name] = None  # `import name` fails, find_spec says absent: as on the GPU machine
    if not args.cpu and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --cpu for the dry-run")
    torch.manual_seed(0)
    ctx = Ctx(cpu=args.cpu, preset=args.preset, out=args.out)
    ctx.record(check=args.check, status="started")
    CHECKS[args.check](ctx)
    ctx.record(status="ok", distributions=imported_distributions())


if __name__ == "__main__":
    main()
