"""The registered model's MLflow `pyfunc` flavor (models-from-code: MLflow stores this file with the
model and runs it on load; nothing is unpickled).

Input: a DataFrame (or list of dicts) with `image_b64` and `question` (and optional `overlay`),
validated by the model server's own parser; output: one row per input with `text` and `objects`
(JSON: role, COCO RLE mask, bbox, score, span), shaped by the server's own response builder.

    import mlflow
    model = mlflow.pyfunc.load_model("models:/vrt-tiny@champion")
    model.predict([{"image_b64": "...", "question": "Which shape is left of the red circle?"}])
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel


def _missing(value: Any) -> bool:
    """An empty cell of an optional column (None or a float NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _records(model_input: Any) -> list[dict]:
    """DataFrame / list of dicts / dict -> request items, without the empty cells of optional columns."""
    if hasattr(model_input, "to_dict"):
        model_input = model_input.to_dict(orient="records")
    if isinstance(model_input, dict):
        model_input = [model_input]
    out = []
    for row in model_input:
        item = {k: v for k, v in dict(row).items() if not _missing(v)}
        if "overlay" in item:
            item["overlay"] = bool(item["overlay"])
        out.append(item)
    return out


class VrtModel(PythonModel):
    """R-Sa2VA behind the same pre/post-processing as the KServe predictor (components/deploy)."""

    def load_context(self, context) -> None:
        import torch

        from models import RSa2VA

        device = "cuda" if torch.cuda.is_available() else "cpu"
        from components.deploy.payload import Limits, model_tokens

        self.model = RSa2VA.from_pretrained(context.artifacts["weights"]).to(device).eval()
        # the server's own limits: the preset's image side, and no model token in a question
        self.limits = Limits(max_image_side=self.model.processor.settings.max_image_side)
        self.forbidden = model_tokens(self.model.processor.tokenizer)
        self.max_new_tokens = int((context.model_config or {}).get("max_new_tokens", 0))  # 0: the preset's budget

    def predict(self, context, model_input, params: dict | None = None):
        import pandas as pd

        from components.deploy.payload import BadRequest, decode_image, parse_v1
        from components.deploy.response import build_result

        start = time.perf_counter()
        try:
            queries = parse_v1({"instances": _records(model_input)}, self.limits, self.forbidden)
            images = [decode_image(q, f"image[{i}]") for i, q in enumerate(queries)]
        except BadRequest as e:
            raise mlflow.exceptions.MlflowException.invalid_parameter_value(str(e)) from e
        max_new_tokens = int((params or {}).get("max_new_tokens", self.max_new_tokens))
        traces = self.model.predict(
            images, [q.question for q in queries], max_new_tokens=max_new_tokens, do_sample=False
        )
        timings = {"predict_ms": round((time.perf_counter() - start) * 1000, 3)}
        results = [build_result(t, im, q.overlay, timings) for t, im, q in zip(traces, images, queries, strict=True)]
        return pd.DataFrame(
            {"text": [r["text"] for r in results], "objects": [json.dumps(r["objects"]) for r in results]}
        )


mlflow.models.set_model(VrtModel())
