"""Model URI resolution (directory, s3://, bad URIs) and the predictor's readiness: ready only after load."""

from __future__ import annotations

import predictor_server
import pytest

from components.deploy.loader import resolve_model_dir
from components.deploy.predictor import VrtPredictor
from vrt import storage
from vrt.errors import UserError

tiny_model_dir = predictor_server.tiny_model_dir  # module-scoped fixture


def test_local_dir_and_errors(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserError, match=r"holds no \*.safetensors weights"):
        resolve_model_dir(str(tmp_path), tmp_path / "cache")
    (tmp_path / "model.safetensors").write_bytes(b"x")
    assert resolve_model_dir(str(tmp_path), tmp_path / "cache") == (tmp_path, "")
    with pytest.raises(UserError, match="is not a directory"):
        resolve_model_dir(str(tmp_path / "nope"), tmp_path / "cache")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no config.json"):
        resolve_model_dir(str(tmp_path / "empty"), tmp_path / "cache")
    with pytest.raises(UserError, match="not a registry URI"):
        resolve_model_dir("models:/name@bad/alias", tmp_path / "cache")


def test_predictor_from_s3_is_ready_only_after_load(tiny_model_dir, s3_bucket, tmp_path):
    uri = storage.join(s3_bucket, "models", "tiny")
    storage.upload_dir(tiny_model_dir, uri)
    predictor = VrtPredictor("tiny", uri, cache_dir=tmp_path)
    assert predictor.ready is False
    assert predictor.load() is True and predictor.ready is True
    downloaded = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert downloaded == sorted(p.name for p in tiny_model_dir.iterdir())


def test_server_settings_are_validated():
    from components.deploy.predictor import InferenceConfig
    from components.deploy.server import main

    with pytest.raises(ValueError, match="device must be auto, cpu or cuda, got 'tpu'"):
        InferenceConfig(device="tpu")
    with pytest.raises(SystemExit) as err:
        main(["--model_uri", "/m", "--max_batch", "0"])
    assert err.value.code == 2


def test_predictor_load_fails_clearly(tmp_path):
    predictor = VrtPredictor("tiny", str(tmp_path / "missing"))
    with pytest.raises(UserError, match="is not a directory"):
        predictor.load()
    assert predictor.ready is False
