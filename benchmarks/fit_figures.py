"""What a trained model does on generated rows (rung 3 of benchmarks/learning.py): the teacher-forced `[SEG]`
mask IoU, what its `[SEG]` prompts carry, and its free-running answers, scored as `vrt eval run` scores a bench
and word for word ("answers right").

    from benchmarks.fit_figures import fit_figures
    rows, teacher_forced, carried, free = fit_figures(model_dir, data_dir, 64)
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import numpy as np
import torch

from models import RSa2VA


def teacher_forced_iou(model: RSa2VA, rows: list[dict]) -> dict[str, float]:
    """Mean mask IoU of the `[SEG]`s of `rows` (canonical generated training rows), teacher-forced: logits > 0
    against the target at the preset's mask_loss_size. "all": every `[SEG]`; "colour unique" / "colour shared":
    those whose object has a colour no other object of its scene has / a colour it shares (NaN: none)."""
    from models.losses import mask_iou

    scores, unique = [], []
    with torch.no_grad():
        for start in range(0, len(rows), 8):
            batch = rows[start : start + 8]
            collated = model.processor.collate(batch, train=True)
            for row, pred, target in zip(batch, model(**collated).pred_masks, collated["gt_masks"]):
                scores += [float(mask_iou(p[None], t[None])) for p, t in zip(pred, target)]
                colours = [o["caption"].split()[-2] for o in row["objects"]]
                unique += [colours.count(words[-2]) == 1 for words in seg_captions(row)]
    iou, unique_ = np.array(scores), np.array(unique, bool)

    def mean(where: np.ndarray) -> float:
        return float(iou[where].mean()) if where.any() else float("nan")

    return {"all": mean(np.ones_like(unique_)), "colour unique": mean(unique_), "colour shared": mean(~unique_)}


def centroid_accuracy(x: np.ndarray, labels: list[str]) -> float:
    """Leave-one-out accuracy of a nearest-class-mean classifier on standardised features: how well `x`
    tells the labels apart (a class seen once cannot be predicted for that one sample)."""
    x = (x - x.mean(0)) / (x.std(0) + 1e-8)
    names = sorted(set(labels))
    y = np.array([names.index(v) for v in labels])
    sums = np.stack([x[y == c].sum(0) for c in range(len(names))])
    counts = np.bincount(y, minlength=len(names)).astype(float)
    hits = 0
    for i in range(len(x)):
        s, n = sums.copy(), counts.copy()
        s[y[i]] -= x[i]
        n[y[i]] -= 1
        dist = np.where(n > 0, ((s / np.maximum(n, 1)[:, None] - x[i]) ** 2).sum(1), np.inf)
        hits += int(dist.argmin() == y[i])
    return hits / len(x)


def seg_captions(row: dict) -> list[list[str]]:
    """The caption words of the object each `[SEG]` of the row's training target segments, in `[SEG]` order."""
    from models.prompt import build_target

    caption = {o["id"]: o["caption"].split() for o in row["objects"]}
    return [caption[i] for i in build_target(row)[1]]


def seg_prompts(model: RSa2VA, rows: list[dict]) -> dict[str, float]:
    """What the `[SEG]` prompts carry, teacher-forced on generated training rows (object captions "a <colour>
    <shape>"): the leave-one-out `centroid_accuracy` of each prompt's colour and shape beside the most frequent
    class's share, and the share of pixels on which two masks of one row differ (mean over its pairs)."""
    prompts, differ = [], []
    hook = model.seg_projection.register_forward_hook(lambda _m, _i, out: prompts.append(out.detach()))
    try:
        with torch.no_grad():
            for start in range(0, len(rows), 8):
                batch = model.processor.collate(rows[start : start + 8], train=True)
                for masks in model(**batch).pred_masks:
                    on = masks > 0
                    differ += [float((on[i] != on[j]).float().mean()) for i in range(len(on)) for j in range(i)]
    finally:
        hook.remove()
    captions = [words for row in rows for words in seg_captions(row)]
    x = torch.cat(prompts).numpy()
    out = {"masks_differ": float(np.mean(differ)) if differ else 0.0}
    for name, pick in (("colour", -2), ("shape", -1)):
        labels = [c[pick] for c in captions]
        out[name] = centroid_accuracy(x, labels)
        out[f"{name}_majority"] = max(labels.count(v) for v in set(labels)) / len(labels)
    return out


ANSWER_SPAN = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL)


def answer_words(text: str) -> str:
    """An answer's words: tags and `[SEG]` dropped, lower case, single spaces, no space before punctuation,
    no final full stop ("It is red: the red circle <vea><obj2> [SEG]</vea>." -> "it is red: the red circle")."""
    words = " ".join(re.sub(r"<[^>]*>|\[SEG\]", " ", text).lower().split())
    return re.sub(r" ([.,:;])", r"\1", words).rstrip(".")


def answers_right(texts: dict[str, str], rows: list[dict]) -> float:
    """Share of `rows` with an answer text (generated data: templated answers; the pool layout has none)
    whose predicted text (`texts` by row id) has an answer span with exactly the words of the row's
    answer: the text names the right objects."""
    def right(row: dict) -> bool:
        spans = ANSWER_SPAN.findall(texts.get(row["id"], ""))
        return bool(spans) and answer_words(spans[-1]) == answer_words(row["answer"])

    answered = [r for r in rows if r.get("answer")]
    return sum(right(r) for r in answered) / len(answered) if answered else 0.0


def free_running(model: RSa2VA, data: Path, rows: list[dict]) -> dict:
    """VRT-Bench metrics of the model's free-running answers to `rows` (the first rows of `data`),
    predicted and scored as `vrt eval run` does a bench, plus "answers right" (`answers_right`)."""
    from components.evaluate.ground_truth import vrt_ground_truth
    from components.evaluate.predict import PredictOptions, predict_lines
    from evaluation.predictions import load_predictions
    from evaluation.vrt_bench import score_vrt

    lines = predict_lines(model, str(data), PredictOptions(limit=len(rows)))
    metrics = score_vrt([vrt_ground_truth(r) for r in rows], load_predictions(lines)).metrics
    texts = {(line := json.loads(raw))["id"]: line["text"] for raw in lines}
    return {**metrics, "answers right": answers_right(texts, rows)}


def fit_figures(model_uri: str, data: Path, n: int) -> tuple[int, dict, dict, dict]:
    """The model on the first `n` rows of its training dataset: how many rows, the teacher-forced `[SEG]`
    mask IoU, what its `[SEG]` prompts carry (`seg_prompts`) and the free-running metrics (does it fit what
    it was trained on?)."""
    from components.evaluate.predict import load_model
    from vrt.data.reader import read_table

    with tempfile.TemporaryDirectory(prefix="vrt-ladder-model-") as cache:
        model = load_model(model_uri, Path(cache))
    rows = read_table(str(data))[1].slice(0, n).to_pylist()
    return len(rows), teacher_forced_iou(model, rows), seg_prompts(model, rows), free_running(model, data, rows)
