"""Log a trained model directory as an MLflow 3 LoggedModel with a `pyfunc` flavor.

The weights are copied once, into the LoggedModel's artifacts (`artifacts/weights/`); the
pyfunc wrapper (components/register/pyfunc_model.py) serves them with the model server's own
pre/post-processing. The model carries a signature, an input example (a generated image and a
question), its lineage as tags and params, and is finalized READY only when complete.

    from components.register.mlflow_model import log_vrt_model
    model_id = log_vrt_model(Path("model_dir"), run_id, tags={"vrt.git_commit": "..."})
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import tempfile
from pathlib import Path

PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
WEIGHTS = "weights"  # the artifact key and folder of the weights inside the MLflow model
EXAMPLE_QUESTION = "Which object is left of the red circle?"


def input_example() -> dict:
    """One request row: a small generated PNG (a red disc) and a question."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (64, 64), "white")
    ImageDraw.Draw(image).ellipse((20, 20, 44, 44), fill="red")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return {"image_b64": base64.b64encode(buf.getvalue()).decode(), "question": EXAMPLE_QUESTION}


def signature():
    """image_b64 + question (+ optional overlay) in; text + objects (JSON) out; max_new_tokens param."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string", "image_b64"), ColSpec("string", "question"),
                       ColSpec("boolean", "overlay", required=False)]),
        outputs=Schema([ColSpec("string", "text"), ColSpec("string", "objects")]),
        params=ParamSchema([ParamSpec("max_new_tokens", "long", 256)]),
    )


def _link_or_copy(src: str, dst: str) -> None:
    """A hard link (no second copy on disk) where the filesystem allows, else a copy."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def log_vrt_model(model_dir: Path, run_id: str, tags: dict[str, str], params: dict[str, str],
                  max_new_tokens: int = 256) -> str:
    """Save the pyfunc model around `model_dir`, upload it as a LoggedModel of run `run_id`; returns its id."""
    import mlflow
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="vrt-mlflow-model-") as tmp:
        local = Path(tmp) / "model"
        named = Path(tmp) / WEIGHTS  # MLflow names the artifact folder after its source: artifacts/weights/
        shutil.copytree(model_dir, named, copy_function=_link_or_copy)
        mlflow.pyfunc.save_model(
            str(local), python_model=str(PYFUNC_CODE), artifacts={WEIGHTS: str(named)},
            signature=signature(), input_example=pd.DataFrame([input_example()]),
            model_config={"max_new_tokens": max_new_tokens}, pip_requirements=[],
        )
        model = mlflow.initialize_logged_model(name="model", source_run_id=run_id, tags=tags, params=params,
                                               model_type="vrt-rsa2va")
        try:
            mlflow.MlflowClient().log_model_artifacts(model.model_id, str(local))
        except BaseException:
            mlflow.finalize_logged_model(model.model_id, "FAILED")
            raise
    mlflow.finalize_logged_model(model.model_id, "READY")
    return model.model_id
