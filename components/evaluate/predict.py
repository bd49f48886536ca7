"""The predict half of evaluation: run a model over a canonical dataset and write a predictions JSONL.

    from components.evaluate.predict import predict_to_file
    n = predict_to_file("models:/vrt-tiny@champion", "data/vrt-bench", "out/preds.jsonl")

The JSONL is the evaluation contract (one line per sample: id, text, one RLE per `[SEG]`),
a direct dump of the model's Traces; it is written to a temporary name and renamed (or PUT
once to s3://), so a partial file never looks complete. `vrt eval predict` and the pipeline's
`predict` step call this.
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from vrt import storage
from vrt.console import progress
from vrt.data.reader import read_table
from vrt.errors import UserError


@dataclass(frozen=True)
class PredictOptions:
    batch_size: int = 4
    max_new_tokens: int = 0  # 0: the model's own budget (its preset's; 2048 for the real presets)
    limit: int = 0  # 0: every sample

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.max_new_tokens < 0 or self.limit < 0:
            raise UserError(
                f"batch_size must be >= 1, max_new_tokens and limit >= 0, got {self.batch_size}, "
                f"{self.max_new_tokens}, {self.limit}"
            )


def load_model(model_uri: str, cache_dir: Path):
    """An RSa2VA from a model directory, s3:// prefix or models:/NAME@ALIAS, in eval mode."""
    from components.deploy.loader import resolve_model_dir
    from models import RSa2VA

    path, _ = resolve_model_dir(model_uri, cache_dir)
    return RSa2VA.from_pretrained(path).eval()


def predict_lines(model, data_uri: str, opts: PredictOptions) -> list[str]:
    """One JSON line per sample of the dataset, in dataset order."""
    import torch
    from PIL import Image

    _, table = read_table(data_uri)
    rows = table.select(["id", "image", "question"]).to_pylist()
    if opts.limit:
        rows = rows[: opts.limit]
    if not rows:
        raise UserError(f"{data_uri} has no samples to predict on")
    lines: list[str] = []
    with progress() as bar, torch.inference_mode():
        task = bar.add_task("predict", total=len(rows))
        for start in range(0, len(rows), opts.batch_size):
            chunk = rows[start : start + opts.batch_size]
            images = [Image.open(io.BytesIO(r["image"])).convert("RGB") for r in chunk]
            traces = model.predict(images, [r["question"] for r in chunk], max_new_tokens=opts.max_new_tokens)
            lines += [json.dumps(t.to_prediction(r["id"])) for t, r in zip(traces, chunk, strict=True)]
            bar.advance(task, len(chunk))
    return lines


def predict_to_file(model_uri: str, data_uri: str, out_uri: str, opts: PredictOptions = PredictOptions()) -> int:
    """Predict over `data_uri` with the model at `model_uri`; write the JSONL to `out_uri`; returns the line count."""
    with tempfile.TemporaryDirectory(prefix="vrt-model-") as cache:
        model = load_model(model_uri, Path(cache))
        lines = predict_lines(model, data_uri, opts)
    storage.write_bytes(out_uri, ("\n".join(lines) + "\n").encode())
    return len(lines)


def predict_step(model_pointer: str, dataset_pointer: str, out_path: str, opts: PredictOptions) -> int:
    """KFP step: model and dataset come as JSON pointer files ({"uri": ...}); the JSONL goes to `out_path`."""
    from components.evaluate.step import dataset_uri

    try:
        model_uri = json.loads(Path(model_pointer).read_text())["uri"]
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"{model_pointer} is not a model artifact with a 'uri' ({e}): wire the sft/grpo output") from e
    return predict_to_file(model_uri, dataset_uri(dataset_pointer), out_path, opts)
