"""Diagnostic ladder of the mask path: does the model learn to segment, and where does it stop?

    python benchmarks/learning.py                       # rungs 1 and 2 of the tiny preset
    python benchmarks/learning.py --rung 1 --steps 300 --set sam_image_size=256
    python benchmarks/learning.py --rung 3 [--grpo]     # the full generated task (slow)

- rung 1, SAM alone: the preset's SAM 2 trained with **box prompts** on generated scenes, no language
  model; held-out mask IoU at image resolution beside the box-fill baseline (the prompt box itself).
- rung 2, the `[SEG]` path with one object: "Segment the yellow triangle." answered with one `[SEG]`,
  teacher-forced; held-out mask IoU (is the object that is meant carried by the `[SEG]` state?).
- rung 3, the full generated task: SFT through the project's trainer; on its own training rows the
  teacher-forced `[SEG]` mask IoU (split by whether the object's colour is unique in its scene) and the
  free-running R-LQ / R-SQ / A-mIoU (does it fit them?), then the free-running evaluation on the generated
  bench (does it generalise?); on both, the share of answers whose text names the right objects; `--grpo`
  adds GRPO steps and prints the reward curve.

Every rung uses fixed seeds; `--set key=value` overrides the model preset (dotted keys, YAML values).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: benchmarks.fit_figures

from benchmarks.fit_figures import answers_right, fit_figures
from components.sft.engines import lr_lambda, param_groups
from models import RSa2VA, load_preset
from models.config import ModelPreset, preset_from_dict
from models.losses import mask_bce, mask_dice
from vrt.data import rle
from vrt.data.synth.scene import COLOURS, SHAPES, Scene, make_scene

ROOT = Path(__file__).resolve().parents[1]


def preset_with(name: str, overrides: list[str]) -> ModelPreset:
    """The named model preset with `key.sub=value` overrides applied."""
    data = load_preset(name).to_dict()
    for item in overrides:
        key, _, value = item.partition("=")
        node = data
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = yaml.safe_load(value)
    return preset_from_dict(data)


def scenes(seed: int, n: int, size: int) -> list[Scene]:
    """n generated scenes (3-6 shapes each), deterministic by seed."""
    rng = np.random.default_rng([seed, 15])
    return [make_scene(rng, size) for _ in range(n)]


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    union = np.logical_or(pred, gt).sum()
    return float(np.logical_and(pred, gt).sum() / union) if union else 1.0


def box_fill(shape) -> np.ndarray:
    out = np.zeros_like(shape.mask)
    x1, y1, x2, y2 = shape.box
    out[y1:y2, x1:x2] = True
    return out


def all_shapes_iou(held: list[Scene]) -> float:
    """IoU of "every shape in the image" as the mask of each shape: a mask path that finds objects but
    not *which* object scores about this."""
    scores = []
    for scene in held:
        union = np.logical_or.reduce([s.mask for s in scene.shapes])
        scores += [iou(union, s.mask) for s in scene.shapes]
    return float(np.mean(scores))


def _pixels(model: RSa2VA, batch: list[Scene]) -> torch.Tensor:
    images = [Image.fromarray(s.image()) for s in batch]
    return model.processor.encode_images(images)["sam_pixel_values"]


def _targets(shapes, size: int) -> torch.Tensor:
    masks = torch.from_numpy(np.stack([s.mask for s in shapes])).float()[:, None]
    return (F.interpolate(masks, size=(size, size), mode="area")[:, 0] > 0.5).float()


def box_logits(model: RSa2VA, features: list[torch.Tensor], index: int, scene: Scene) -> torch.Tensor:
    """Low-res mask logits (K, h, w) of every shape of `scene` prompted by its box."""
    scale = model.preset.sam_image_size / scene.size
    boxes = torch.tensor([s.box for s in scene.shapes], dtype=torch.float32) * scale
    sparse, _ = model.sam.prompt_encoder(None, None, boxes[None], None)
    image = features[-1][index : index + 1]
    dense = model.sam.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, *image.shape[-2:])
    masks, _, _, _ = model.sam.mask_decoder(
        image_embeddings=image,
        image_positional_embeddings=model.sam.get_image_wide_positional_embeddings(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        multimask_output=False,
        high_resolution_features=[f[index : index + 1] for f in features[:-1]],
    )
    return masks[0, :, 0]


def _batches(items: list, size: int, rng: np.random.Generator) -> Iterator[list]:
    while True:
        order = rng.permutation(len(items))
        for i in range(0, len(order) - size + 1, size):
            yield [items[j] for j in order[i : i + size]]


@torch.no_grad()
def _rung1_eval(model: RSa2VA, held: list[Scene]) -> float:
    model.eval()
    scores = []
    for start in range(0, len(held), 8):
        batch = held[start : start + 8]
        features = model.sam_features(_pixels(model, batch))
        for b, scene in enumerate(batch):
            logits = box_logits(model, features, b, scene)
            up = F.interpolate(logits[:, None], size=(scene.size, scene.size), mode="bilinear")[:, 0]
            scores += [iou(m.numpy() > 0, s.mask) for m, s in zip(up, scene.shapes)]
    model.train()
    return float(np.mean(scores))


def _progress(name: str, point: tuple[int, float], start: float) -> None:
    print(f"  {name} step {point[0]}: held-out IoU {point[1]:.3f} ({time.perf_counter() - start:.0f} s)", flush=True)


@dataclass(frozen=True)
class Run:
    """One training run of a rung."""

    preset: ModelPreset
    steps: int = 300
    batch: int = 8  # images per step (rung 1: all their shapes; rung 2: one question each)
    lr: float = 1e-3
    vlm_lr_scale: float = 1.0  # rung 2: Qwen3-VL at lr x this, as `sft.vlm_lr_scale` (pipelines/presets/tiny.yaml)
    warmup: int = 30
    n_train: int = 800
    n_held: int = 48
    image_size: int = 128
    seed: int = 0
    eval_every: int = 50


def _optimizer(groups: list[dict], run: Run):
    """AdamW over `groups` with SFT's schedule: linear warm-up over `run.warmup` steps, cosine to 0 at the end."""
    opt = torch.optim.AdamW(groups, lr=run.lr, weight_decay=0.0)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(run.warmup, run.steps))


def _step(params: list[torch.nn.Parameter], opt, sched, loss: torch.Tensor) -> None:
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    sched.step()


def rung1(run: Run) -> dict:
    """SAM alone with box prompts: {'curve': [(step, held-out IoU)], 'box_fill': IoU, 'seconds': s}."""
    torch.manual_seed(run.seed)
    model = RSa2VA.from_preset(run.preset, seed=run.seed)
    train, held = scenes(run.seed, run.n_train, run.image_size), scenes(run.seed + 1000, run.n_held, run.image_size)
    baseline = float(np.mean([iou(box_fill(s), s.mask) for sc in held for s in sc.shapes]))
    opt, sched = _optimizer([{"params": list(model.sam.parameters())}], run)
    w, size, rng = run.preset.loss, run.preset.mask_loss_size, np.random.default_rng(run.seed)
    curve, start = [(0, _rung1_eval(model, held))], time.perf_counter()
    for step, batch in zip(range(1, run.steps + 1), _batches(train, run.batch, rng)):
        features = model.sam_features(_pixels(model, batch))
        logits = torch.cat([box_logits(model, features, b, sc) for b, sc in enumerate(batch)])
        preds = F.interpolate(logits[:, None], size=(size, size), mode="bilinear")[:, 0]
        targets = _targets([s for sc in batch for s in sc.shapes], size)
        _step(model.trainable_parameters(), opt, sched, w.bce * mask_bce(preds, targets) + w.dice * mask_dice(preds, targets))
        if step % run.eval_every == 0 or step == run.steps:
            curve.append((step, _rung1_eval(model, held)))
            _progress("rung 1", curve[-1], start)
    return {"curve": curve, "box_fill": baseline, "all_shapes": all_shapes_iou(held),
            "seconds": time.perf_counter() - start}


def one_object_rows(batch: list[Scene], seed: int) -> list[dict]:
    """Canonical rows asking for one uniquely named shape: "Segment the yellow triangle." -> one [SEG]."""
    rng = np.random.default_rng([seed, 2])
    rows = []
    for n, scene in enumerate(batch):
        names = [s.name for s in scene.shapes]
        unique = [i for i, name in enumerate(names) if names.count(name) == 1] or [0]
        k = unique[int(rng.integers(len(unique)))]
        buf = io.BytesIO()
        Image.fromarray(scene.image()).save(buf, format="PNG")
        objects = [
            {"id": f"o{i}", "caption": s.name, "rle": rle.encode(s.mask), "box": list(s.box)}
            for i, s in enumerate(scene.shapes)
        ]
        rows.append({
            "id": f"one-{seed}-{n}", "image": buf.getvalue(), "width": scene.size, "height": scene.size,
            "question": f"Segment the {names[k]}.", "objects": objects, "reasoning": "",
            "reasoning_ids": [], "answer": f"The {names[k]} <ref:o{k}>.", "answer_ids": [f"o{k}"],
            "_mask": scene.shapes[k].mask,
        })
    return rows


def _collate(model: RSa2VA, rows: list[dict]) -> dict:
    return model.processor.collate([{k: v for k, v in r.items() if k != "_mask"} for r in rows])


def _rung2_masks(model: RSa2VA, held: list[dict]) -> list[np.ndarray]:
    """The `[SEG]` mask of each held-out row, at image resolution."""
    model.eval()
    masks = []
    with torch.no_grad():
        for start in range(0, len(held), 8):
            rows = held[start : start + 8]
            out = model(**_collate(model, rows))
            for pred, row in zip(out.pred_masks, rows):
                masks.append(F.interpolate(pred[:, None], size=row["_mask"].shape, mode="bilinear")[0, 0].numpy() > 0)
    model.train()
    return masks


def _held_iou(masks: list[np.ndarray], held: list[dict]) -> float:
    return float(np.mean([iou(m, r["_mask"]) for m, r in zip(masks, held)]))


def binding(masks: list[np.ndarray], rows: list[dict], held: list[Scene]) -> dict[str, float]:
    """Mean IoU of each `[SEG]` mask against the named shape and against the union of every shape that
    shares its colour, its shape kind, or any shape: which part of the name the mask follows."""
    scores: dict[str, list[float]] = {"named": [], "same colour": [], "same shape": [], "every shape": []}
    for mask, row, scene in zip(masks, rows, held):
        named = scene.shapes[int(row["answer_ids"][0].removeprefix("o"))]
        groups = {
            "named": [named],
            "same colour": [s for s in scene.shapes if s.colour == named.colour],
            "same shape": [s for s in scene.shapes if s.shape == named.shape],
            "every shape": scene.shapes,
        }
        for key, shapes in groups.items():
            scores[key].append(iou(mask, np.any([s.mask for s in shapes], axis=0)))
    return {key: float(np.mean(v)) for key, v in scores.items()}


def rung2(run: Run) -> dict:
    """One object through the [SEG] path, teacher-forced: {'curve', 'ce', 'seconds'}."""
    torch.manual_seed(run.seed)
    model = RSa2VA.from_preset(run.preset, seed=run.seed)
    train = one_object_rows(scenes(run.seed, run.n_train, run.image_size), run.seed)
    held_scenes = scenes(run.seed + 1000, run.n_held, run.image_size)
    held = one_object_rows(held_scenes, run.seed + 1000)
    opt, sched = _optimizer(param_groups(model, run.lr, run.vlm_lr_scale), run)
    rng = np.random.default_rng(run.seed)
    masks = _rung2_masks(model, held)
    curve, start = [(0, _held_iou(masks, held))], time.perf_counter()
    for step, rows in zip(range(1, run.steps + 1), _batches(train, run.batch, rng)):
        out = model(**_collate(model, rows))
        _step(model.trainable_parameters(), opt, sched, out.loss)
        if step % run.eval_every == 0 or step == run.steps:
            masks = _rung2_masks(model, held)  # the last step always evaluates: `binding` reads these
            curve.append((step, _held_iou(masks, held)))
            _progress("rung 2", curve[-1], start)
    return {"curve": curve, "ce": float(out.loss_ce.detach()), "seconds": time.perf_counter() - start,
            "binding": binding(masks, held, held_scenes)}


class NamePrompts(torch.nn.Module):
    """Rung 2 with the language model cut out: a learned prompt vector per object name (colour + shape)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.names = [f"{c} {s}" for c in COLOURS for s in SHAPES]
        self.table = torch.nn.Embedding(len(self.names), width)

    def forward(self, rows: list[dict]) -> torch.Tensor:
        index = [self.names.index(r["question"].removeprefix("Segment the ").rstrip(".")) for r in rows]
        return self.table(torch.tensor(index))


def _name_logits(model: RSa2VA, prompts: NamePrompts, rows: list[dict]) -> torch.Tensor:
    features = model.sam_features(_collate(model, rows)["sam_pixel_values"])
    vectors = prompts(rows)
    return torch.cat([model.decode_masks(features, b, vectors[b : b + 1])[0] for b in range(len(rows))])


def rung2_names(run: Run) -> dict:
    """Rung 2's rows and SAM 2, prompted by a learned vector per object name instead of the `[SEG]` state:
    {'curve', 'seconds'}. Reaching well above all-shapes here while rung 2 does not puts the limit in the
    language model's `[SEG]` state, not in the decoder."""
    torch.manual_seed(run.seed)
    model = RSa2VA.from_preset(run.preset, seed=run.seed)
    prompts = NamePrompts(model.sam.mask_decoder.config.hidden_size)
    train = one_object_rows(scenes(run.seed, run.n_train, run.image_size), run.seed)
    held = one_object_rows(scenes(run.seed + 1000, run.n_held, run.image_size), run.seed + 1000)
    params = [*model.sam.parameters(), *prompts.parameters()]
    opt, sched = _optimizer([{"params": params}], run)
    w, size, rng = run.preset.loss, run.preset.mask_loss_size, np.random.default_rng(run.seed)

    @torch.no_grad()
    def evaluate() -> float:
        model.eval()
        scores = []
        for start in range(0, len(held), 8):
            rows = held[start : start + 8]
            up = F.interpolate(_name_logits(model, prompts, rows)[:, None], size=(run.image_size,) * 2, mode="bilinear")
            scores += [iou(m[0].numpy() > 0, r["_mask"]) for m, r in zip(up, rows)]
        model.train()
        return float(np.mean(scores))

    curve, start = [(0, evaluate())], time.perf_counter()
    for step, rows in zip(range(1, run.steps + 1), _batches(train, run.batch, rng)):
        preds = F.interpolate(_name_logits(model, prompts, rows)[:, None], size=(size, size), mode="bilinear")[:, 0]
        masks = torch.from_numpy(np.stack([r["_mask"] for r in rows])).float()[:, None]
        targets = (F.interpolate(masks, size=(size, size), mode="area")[:, 0] > 0.5).float()
        _step(params, opt, sched, w.bce * mask_bce(preds, targets) + w.dice * mask_dice(preds, targets))
        if step % run.eval_every == 0 or step == run.steps:
            curve.append((step, evaluate()))
            _progress("rung 2 (name prompts)", curve[-1], start)
    return {"curve": curve, "seconds": time.perf_counter() - start}


def seg_state_signal(run: Run, n: int = 16) -> dict:
    """What the mask loss has to work with at init, on rung 2's rows: how much the `[SEG]` state varies
    across questions (std across samples / std overall) and the mask loss's gradient into the language
    model's layers relative to the CE gradient (largest parameter-gradient norm of each)."""
    torch.manual_seed(run.seed)
    model = RSa2VA.from_preset(run.preset, seed=run.seed)
    batch = _collate(model, one_object_rows(scenes(run.seed, n, run.image_size), run.seed))
    grads = {}
    for term in ("loss_mask_dice", "loss_ce"):
        model.zero_grad()
        out = model(**batch)
        getattr(out, term).backward()
        grads[term] = max(p.grad.norm().item() for name, p in model.named_parameters()
                          if "language_model.layers" in name and p.grad is not None)
    with torch.no_grad():
        hidden = model.vlm(**{k: batch[k] for k in ("input_ids", "attention_mask", "mm_token_type_ids",
                                                    "pixel_values", "image_grid_thw")},
                           output_hidden_states=True).hidden_states[-1]
        seg = hidden[batch["input_ids"] == model.seg_token_id]
    return {"seg_state_variation": float(seg.std(0).mean() / seg.std()),
            "mask_to_ce_gradient": grads["loss_mask_dice"] / grads["loss_ce"]}


def _vrt(args: list[str], cwd: Path) -> str:
    """Run the project's CLI (`vrt ...`) in `cwd`; its stdout, or SystemExit with the tail of its log.
    Runs are tracked in `cwd`'s own MLflow store, whatever MLFLOW_TRACKING_URI says: the reward curve is
    read back from there."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               MLFLOW_TRACKING_URI=f"sqlite:///{cwd / 'mlflow.db'}")
    proc = subprocess.run([sys.executable, "-m", "vrt.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"vrt {' '.join(args[:2])} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return proc.stdout


def _manifest_uri(stdout: str) -> str:
    return json.loads(stdout[stdout.index("{\n") :])["uri"]


def _bench_line(name: str, out: Path, bench: Path) -> dict:
    """Print the metrics of `vrt eval run --out out` on `bench`, and its share of answers right."""
    from vrt.data.reader import read_table

    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    lines = [json.loads(raw) for raw in (out / "predictions.jsonl").read_text().splitlines() if raw.strip()]
    right = answers_right({line["id"]: line["text"] for line in lines}, read_table(str(bench))[1].to_pylist())
    print(f"{name}: " + "  ".join(f"{k} {100 * metrics[k]:.1f}" for k in ("R-LQ", "R-SQ", "A-mIoU"))
          + f"; answers right {100 * right:.0f} %", flush=True)
    return metrics


def _reward_curve(work: Path, key: str = "reward/vrt_answer_iou/mean") -> list[float]:
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], order_by=["start_time DESC"])
    run = next(r for r in runs if key in r.data.metrics)
    return [m.value for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]


def _fit_line(stage: str, model_uri: str, data: Path, n: int) -> dict | None:
    """Print `fit_figures` of the model on the first `n` training rows; its free-running metrics (None: n 0)."""
    if not n:
        return None
    rows, teacher_forced, carried, fit = fit_figures(model_uri, data / "train", n)
    print(f"rung 3 ({stage}, {rows} training rows): teacher-forced [SEG] mask IoU {teacher_forced['all']:.3f} "
          f"(colour unique in the scene {teacher_forced['colour unique']:.3f}, shared "
          f"{teacher_forced['colour shared']:.3f}); "
          "free-running " + "  ".join(f"{k} {100 * fit[k]:.1f}" for k in ("R-LQ", "R-SQ", "A-mIoU"))
          + f"; answers right {100 * fit['answers right']:.0f} %", flush=True)
    print(f"rung 3 ({stage}) [SEG] prompts: colour read {100 * carried['colour']:.0f} % (most frequent "
          f"{100 * carried['colour_majority']:.0f} %), shape {100 * carried['shape']:.0f} % "
          f"({100 * carried['shape_majority']:.0f} %); the masks of one row differ on "
          f"{100 * carried['masks_differ']:.1f} % of the pixels", flush=True)
    return fit


def rung3(args: argparse.Namespace, work: Path) -> None:
    """The full generated task: SFT (the project's trainer), free-running VRT-Bench, optionally GRPO."""
    raw, data = work / "raw", work / "data"
    _vrt(["data", "synth", "--out", str(raw), "--n-train", str(args.n_train), "--n-bench", str(args.n_bench),
          "--seed", str(args.seed)], work)
    for source, name in (("vrt-80k", "train"), ("vrt-bench", "bench")):
        _vrt(["data", "prepare", "--source", source, "--from", str(raw / source), "--out", str(data / name)], work)
    if args.sft_model:
        model = args.sft_model
    else:
        start = time.perf_counter()
        # no sft.eval_dataset: the bench layout has no reasoning text to teacher-force
        sft = _vrt(["train", "sft", "--config", args.preset_yaml, f"sft.dataset={data / 'train'}",
                    f"sft.output={work / 'sft'}", *args.train_set], work)
        print(f"rung 3 SFT: {time.perf_counter() - start:.0f} s", flush=True)
        model = _manifest_uri(sft)
    fit = _fit_line("SFT", model, data, args.fit_rows)
    _vrt(["eval", "run", "--model", model, "--data", str(data / "bench"), "--out", str(work / "eval-sft")], work)
    before = _bench_line("rung 3 (SFT, free-running bench)", work / "eval-sft", data / "bench")
    if not args.grpo:
        return
    grpo = _vrt(["train", "grpo", "--config", args.preset_yaml, f"init_from={model}",
                 f"grpo.dataset={data / 'train'}", f"grpo.output={work / 'grpo'}", *args.grpo_set], work)
    curve = _reward_curve(work)
    print("rung 3 GRPO vrt_answer_iou by step: " + " ".join(f"{v:.3f}" for v in curve), flush=True)
    _vrt(["eval", "run", "--model", _manifest_uri(grpo), "--data", str(data / "bench"),
          "--out", str(work / "eval-grpo")], work)
    after = _bench_line("rung 3 (GRPO, free-running bench)", work / "eval-grpo", data / "bench")
    print(f"GRPO effect on A-mIoU: {100 * (after['A-mIoU'] - before['A-mIoU']):+.1f} points", flush=True)
    if fit is not None:  # the questions GRPO trained on, answered greedily: a fixed set, before and after
        fit_after = _fit_line("GRPO", _manifest_uri(grpo), data, args.fit_rows)
        print(f"GRPO effect on the training rows' A-mIoU: {100 * (fit_after['A-mIoU'] - fit['A-mIoU']):+.1f} points",
              flush=True)


def _print_curve(name: str, result: dict, extra: str = "") -> None:
    points = "  ".join(f"{s}:{v:.3f}" for s, v in result["curve"])
    print(f"{name}: held-out IoU by step {points}{extra}  ({result['seconds']:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rung", type=int, action="append", help="rung(s) to run (default 1 and 2)")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--vlm-lr-scale", type=float, default=Run.vlm_lr_scale,
                    help="rung 2: Qwen3-VL's learning rate relative to --lr (SAM 2 and the projection train at --lr)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--name-prompts", action="store_true",
                    help="rung 2: train with a learned prompt per object name in place of the [SEG] state")
    ap.add_argument("--n-train", type=int, default=1000, help="rung 3: generated training samples")
    ap.add_argument("--n-bench", type=int, default=64, help="rung 3: generated bench samples")
    ap.add_argument("--preset-yaml", default=str(ROOT / "pipelines/presets/tiny.yaml"), help="rung 3 pipeline preset")
    ap.add_argument("--train-set", action="append", default=[], metavar="K=V", help="rung 3 `vrt train sft` override")
    ap.add_argument("--grpo", action="store_true", help="rung 3: GRPO after SFT, with its reward curve")
    ap.add_argument("--grpo-set", action="append", default=[], metavar="K=V", help="rung 3 `vrt train grpo` override")
    ap.add_argument("--sft-model", default="", metavar="DIR",
                    help="rung 3: start from this SFT model (a model directory, e.g. the demo's) instead of training one")
    ap.add_argument("--fit-rows", type=int, default=32,
                    help="rung 3: training rows to score the SFT model on, teacher-forced and free-running (0: skip)")
    ap.add_argument("--work", default="", help="rung 3 work folder (default: a temporary one)")
    args = ap.parse_args(argv)
    if args.fit_rows < 0:
        ap.error(f"--fit-rows must be >= 0 (0 skips the training-row figures), got {args.fit_rows}")
    if args.sft_model and not (Path(args.sft_model) / "config.json").is_file():
        ap.error(f"--sft-model {args.sft_model}: not a model directory (no config.json); give a saved model's folder")
    torch.set_num_threads(args.threads)
    preset = preset_with(args.preset, args.overrides)
    run = Run(preset, steps=args.steps, lr=args.lr, vlm_lr_scale=args.vlm_lr_scale, batch=args.batch, seed=args.seed,
              image_size=preset.sam_image_size)
    for rung in args.rung or [1, 2]:
        if rung == 1:
            r = rung1(run)
            _print_curve("rung 1 (SAM, box prompts)", r, f"  | box-fill {r['box_fill']:.3f}, all-shapes {r['all_shapes']:.3f}")
        if rung == 2 and args.name_prompts:
            _print_curve("rung 2 (learned name prompts, no LM)", rung2_names(run))
        elif rung == 2:
            r = rung2(run)
            held = scenes(run.seed + 1000, run.n_held, run.image_size)
            _print_curve("rung 2 ([SEG], one object)", r, f"  | all-shapes {all_shapes_iou(held):.3f}, final CE {r['ce']:.3f}")
            print("rung 2 final masks vs " + ", ".join(f"{k} {v:.3f}" for k, v in r["binding"].items()), flush=True)
            signal = seg_state_signal(run)
            print(f"rung 2 at init: [SEG]-state variation across questions {signal['seg_state_variation']:.3f}, "
                  f"mask/CE gradient into the LM {signal['mask_to_ce_gradient']:.1e}", flush=True)
        if rung == 3:
            with tempfile.TemporaryDirectory(prefix="vrt-ladder-") as tmp:
                work = Path(args.work or tmp).resolve()
                work.mkdir(parents=True, exist_ok=True)
                rung3(args, work)


if __name__ == "__main__":
    main()
