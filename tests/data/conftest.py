"""Fixtures for the data tests: one small generated raw dataset per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from vrt.data.synth import synthesize

N_TRAIN, N_BENCH, SEED, SIZE = 30, 12, 7, 64


@pytest.fixture(scope="session")
def raw_dir(tmp_path_factory) -> Path:
    """Generated raw sources (vrt-80k 30, vrt-bench 12, reasonseg 12, vgr 15) at 64x64."""
    out = tmp_path_factory.mktemp("raw")
    synthesize(out, N_TRAIN, N_BENCH, SEED, SIZE)
    return out
