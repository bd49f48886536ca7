"""Fixtures for the predictor tests: a saved tiny model, and one model server process per test module.

Test modules import them (`from predictor_server import tiny_model_dir, model_server`).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _root_conftest():
    """tests/conftest.py's helpers (free_port), loaded by path: tests/ is not a package."""
    spec = importlib.util.spec_from_file_location(
        "vrt_root_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


free_port = _root_conftest().free_port
MAX_NEW_TOKENS = 8
SERVER_LIMITS = (
    "--max_image_bytes",
    "20000",
    "--max_pixels",
    "10000",
    "--max_question_chars",
    "50",
    "--max_batch",
    "2",
    "--max_new_tokens",
    str(MAX_NEW_TOKENS),
)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> Path:
    """The `tiny` preset, random-initialised with seed 0, saved as an HF-style directory."""
    from models import RSa2VA, load_preset

    path = tmp_path_factory.mktemp("tiny") / "model"
    RSa2VA.from_preset(load_preset("tiny"), seed=0).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model_server(tiny_model_dir):
    """`python -m components.deploy.server` on loopback with small limits (started, ready, smoke-tested)."""
    from components.deploy.local import start_local

    server = start_local(str(tiny_model_dir), free_port(), name="tiny", extra_args=SERVER_LIMITS)
    try:
        yield server
    finally:
        server.stop()
