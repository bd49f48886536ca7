"""Fixtures for the model tests: the tiny preset, a tiny model (built once per module), synthetic rows."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/ sits on sys.path (rootdir conftest), where tests/models would shadow the real `models`
# package as a namespace package: put the repository root first.
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from model_synth import make_samples


@pytest.fixture(scope="module")
def tiny_preset():
    from models import load_preset

    return load_preset("tiny")


@pytest.fixture(scope="module")
def tiny_model(tiny_preset):
    from models import RSa2VA

    return RSa2VA.from_preset(tiny_preset, seed=0)


@pytest.fixture
def samples():
    return make_samples(2, size=96)
