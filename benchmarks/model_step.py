"""Benchmark the tiny R-Sa2VA preset on CPU and print every preset's parameter counts.

    .venv/bin/python benchmarks/model_step.py                 # defaults: sizes 64 128, 5 repeats
    .venv/bin/python benchmarks/model_step.py --sizes 96 --repeats 10 --max-new-tokens 32 --threads 1

Prints, per image size: forward+backward time of one training step (batch of 2 generated
samples, median of the repeats after one warm-up) and `predict` latency (batch of 2, greedy,
fixed number of new tokens); then total/trainable parameters of each preset (meta device).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))

from model_synth import make_samples

from models import RSa2VA, load_preset, preset_names
from models.params import count_parameters


def _median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_size(model: RSa2VA, size: int, repeats: int, max_new_tokens: int) -> tuple[float, float, int]:
    samples = make_samples(2, size=size)
    batch = model.processor.collate(samples, train=True)
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-4)

    def step() -> None:
        out = model(**batch)
        optimizer.zero_grad()
        out.loss.backward()

    step_s = _median_seconds(step, repeats)
    images = [Image.open(io.BytesIO(s["image"])).convert("RGB") for s in samples]
    questions = [s["question"] for s in samples]
    model.eval()
    predict_s = _median_seconds(
        lambda: model.predict(images, questions, max_new_tokens=max_new_tokens), repeats
    )
    model.train()
    return step_s, predict_s, int(batch["input_ids"].shape[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = RSa2VA.from_preset(load_preset("tiny"), seed=0)
    # a generated model stops at its first <|im_end|>; ban it so every predict emits max_new_tokens
    model.vlm.generation_config.suppress_tokens = [model.processor.eos_token_id]
    print(f"tiny preset on CPU ({torch.get_num_threads()} threads), batch 2, median of {args.repeats}")
    for size in args.sizes:
        step_s, predict_s, seq = bench_size(model, size, args.repeats, args.max_new_tokens)
        print(
            f"  {size:4d} px: train seq {seq} tokens | forward+backward {step_s * 1000:8.1f} ms | "
            f"predict ({args.max_new_tokens} new tokens) {predict_s * 1000:8.1f} ms"
        )
    print("parameters (total / trainable under the preset's policy)")
    for name in preset_names():
        counts = count_parameters(load_preset(name))
        total, trainable = sum(c.total for c in counts), sum(c.trainable for c in counts)
        towers = ", ".join(f"{c.name} {c.total:,}/{c.trainable:,}" for c in counts)
        print(f"  {name:5s} total {total:>14,} trainable {trainable:>14,}  ({towers})")


if __name__ == "__main__":
    main()
