"""Which mask loss the tiny preset learns best with: dense (its default) vs the authors' point-sampled
loss on 5 mask slots, side by side on the same 8 generated samples.

    .venv/bin/python benchmarks/mask_loss.py                    # defaults: 20 epochs, seed 0
    .venv/bin/python benchmarks/mask_loss.py --epochs 40 --seeds 0 1 --settings dense points

Prints, per loss setting and seed: teacher-forced mask IoU (every [SEG] once) before and after
training (AdamW lr 3e-3, 2 batches of 4, 96 px, as tests/models/test_overfit.py) and the final CE.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))

from model_synth import make_samples

from models import RSa2VA, load_preset

SETTINGS = {  # short name: (label, loss fields)
    "dense": ("dense, every [SEG] (tiny default)", {"mask_loss": "dense", "mask_slots": 0}),
    "points": (
        "points 12544, 5 slots (authors)",
        {"mask_loss": "points", "num_points": 12544, "mask_slots": 5},
    ),
    "points1k": ("points 1024, 5 slots", {"mask_loss": "points", "num_points": 1024, "mask_slots": 5}),
}


def _iou(model, batches) -> float:
    model.eval()
    with torch.no_grad():
        ious = [float(model(**b).mask_iou) for b in batches]
    model.train()
    return sum(ious) / len(ious)


def run(loss: dict, seed: int, epochs: int) -> tuple[float, float, float, float]:
    base = load_preset("tiny")
    preset = dataclasses.replace(base, loss=dataclasses.replace(base.loss, **loss))
    torch.manual_seed(seed)
    model = RSa2VA.from_preset(preset, seed=seed)
    samples = make_samples(8, size=96, seed=seed)
    batches = [model.processor.collate(samples[:4]), model.processor.collate(samples[4:])]
    before = _iou(model, batches)
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=3e-3, weight_decay=0.0)
    start = time.perf_counter()
    for _ in range(epochs):
        for batch in batches:
            out = model(**batch)
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
    return before, _iou(model, batches), float(out.loss_ce.detach()), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    args = parser.parse_args()
    print(f"{'mask loss':40s} {'seed':>4s} {'IoU before':>10s} {'IoU after':>9s} {'CE':>6s} {'train s':>7s}")
    for key in args.settings:
        name, loss = SETTINGS[key]
        for seed in args.seeds:
            before, after, ce, secs = run(loss, seed, args.epochs)
            print(f"{name:40s} {seed:4d} {before:10.3f} {after:9.3f} {ce:6.2f} {secs:7.1f}")


if __name__ == "__main__":
    main()
