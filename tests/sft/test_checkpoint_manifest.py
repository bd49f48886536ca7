"""Checkpoint integrity: files are loaded only when they match the sha256 manifest written at save time."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from components.sft import checkpoint as ckpt
from vrt.errors import UserError

EXPECT = {"world": 2, "seed": 0}


def _rank_dir(root: Path, rank: int) -> Path:
    """What one rank writes: its engine files (DeepSpeed-like pickles), then write_state."""
    directory = root / f"rank{rank}"
    (directory / "ds").mkdir(parents=True)
    (directory / "ds" / f"zero_pp_rank_{rank}_mp_rank_00_optim_states.pt").write_bytes(b"optim %d" % rank)
    if rank == 0:
        (directory / "ds" / "mp_rank_00_model_states.pt").write_bytes(b"model")
        (directory / "latest").write_text("ds")
    ckpt.write_state(directory, rank, {"step": 7, **EXPECT})
    return directory


@pytest.fixture
def merged(tmp_path) -> Path:
    """Both ranks' directories merged into one, as Ray Train does under step_NNNNNNN."""
    step = tmp_path / "step_0000007"
    for rank in (0, 1):
        shutil.copytree(_rank_dir(tmp_path, rank), step, dirs_exist_ok=True)
    return step


def test_intact_checkpoint_loads_on_every_rank(merged):
    listed = json.loads((merged / "sha256_rank1.json").read_text())
    assert sorted(listed) == ["ds/zero_pp_rank_1_mp_rank_00_optim_states.pt", "rng_rank1.safetensors"]
    assert sorted(json.loads((merged / "sha256_rank0.json").read_text())) == [
        "ds/mp_rank_00_model_states.pt",
        "ds/zero_pp_rank_0_mp_rank_00_optim_states.pt",
        "latest",
        "rng_rank0.safetensors",
        "state.json",
    ]
    for rank in (0, 1):
        state, rng = ckpt.read_state(merged, rank, EXPECT)
        assert state["step"] == 7 and rng.dtype.is_floating_point is False


def _tamper(step: Path) -> None:
    (step / "ds" / "mp_rank_00_model_states.pt").write_bytes(b"malicious pickle")


def _add(step: Path) -> None:
    (step / "ds" / "extra.pt").write_bytes(b"unlisted pickle")


def _remove(step: Path) -> None:
    (step / "ds" / "zero_pp_rank_1_mp_rank_00_optim_states.pt").unlink()


def _no_manifests(step: Path) -> None:
    for manifest in step.glob("sha256_rank*.json"):
        manifest.unlink()


def _bad_manifest(step: Path) -> None:
    (step / "sha256_rank1.json").write_text("[1, 2]")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_tamper, "ds/mp_rank_00_model_states.pt does not match its sha256"),
        (_add, "ds/extra.pt is not in any manifest"),
        (_remove, "ds/zero_pp_rank_1_mp_rank_00_optim_states.pt is missing"),
        (_no_manifests, "has no sha256 manifest"),
        (_bad_manifest, "is not a mapping of file to sha256"),
    ],
    ids=["changed", "unlisted", "missing", "no-manifest", "bad-manifest"],
)
def test_a_checkpoint_that_fails_its_manifest_is_refused(merged, damage, message):
    damage(merged)
    with pytest.raises(UserError, match="refus") as err:
        ckpt.read_state(merged, 0, EXPECT)
    assert message in str(err.value)
