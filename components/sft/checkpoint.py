"""SFT checkpoints: where they live, which one "latest" means, and the recipe state beside the weights.

A run writes `<output>/<run_name>/step_<NNNNNNN>/` (through `ray.train.report`, or copied there by
the no-Ray worker, components/sft/worker.py): the engine's files from every rank,
`rng_rank<R>.safetensors` per rank and `state.json` (rank 0, the step and the settings a
resume must match). `resume_from: latest` picks the highest complete
step under `<output>` across runs (ties: the newest run name). A worker group restarted by
FailureConfig, or a run started again under the same `run_name`, continues from its own
newest complete checkpoint (even one the Ray controller had not registered yet).

Nothing untrusted is unpickled: DeepSpeed's files are torch pickles, so every rank writes
`sha256_rank<R>.json` (the sha256 of each file it wrote, state and RNG included) last, and
`read_state` (called before any engine load, in SFT and GRPO) checks the merged directory against
them: a file changed, missing, or present without being listed refuses the checkpoint.

    uri = resolve_resume("latest", "s3://bucket/sft")   # "" when there is none yet
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from components.sft.config import RESUME_LATEST
from vrt import storage
from vrt.data.fetch import file_sha256
from vrt.errors import UserError

STATE_FILE = "state.json"
_MANIFEST = re.compile(r"^sha256_rank\d+\.json$")
_STEP_DIR = re.compile(r"^(?:(?P<run>[^/]+)/)?step_(?P<step>\d{7})/(?P<file>[^/]+)$")


def step_dir_name(step: int) -> str:
    return f"step_{step:07d}"


def _newest_complete(root: str, nested: bool) -> str:
    """URI of the highest-step checkpoint under `root` whose state.json and every rank's RNG file exist."""
    files: dict[tuple[int, str], set[str]] = {}
    for name in storage.list_names(root):
        match = _STEP_DIR.match(name)
        if match and (match["run"] is not None) == nested:
            files.setdefault((int(match["step"]), match["run"] or ""), set()).add(match["file"])
    for step, run in sorted(files, reverse=True):
        present = files[(step, run)]
        if STATE_FILE not in present:
            continue
        uri = storage.join(root, *([run] if nested else []), step_dir_name(step))
        world = json.loads(storage.read_bytes(storage.join(uri, STATE_FILE)))["world"]
        if all(f"rng_rank{r}.safetensors" in present for r in range(world)):
            return uri
    return ""


def find_latest(output: str) -> str:
    """URI of the newest complete checkpoint of any run under `output` ("" when there is none)."""
    return _newest_complete(output, nested=True)


def latest_in_run(run_dir: str) -> str:
    """URI of the newest complete checkpoint of one run ("" when there is none)."""
    return _newest_complete(run_dir, nested=False)


def resolve_resume(resume_from: str, output: str, section: str = "sft") -> str:
    """The checkpoint URI to start from: "" (fresh), an explicit URI (checked), or the latest one.

    `section` (sft or grpo) names the config key in the error message.
    """
    if not resume_from:
        return ""
    if resume_from == RESUME_LATEST:
        return find_latest(output)
    if not storage.exists(storage.join(resume_from, STATE_FILE)):
        raise UserError(
            f"{section}.resume_from={resume_from} is not a checkpoint (no {STATE_FILE} inside): give a "
            f"<output>/<run>/step_NNNNNNN URI or {section}.resume_from=latest"
        )
    return resume_from


def _files(directory: Path) -> dict[str, Path]:
    """Every file under `directory` but the sha256 manifests, by '/'-separated relative name."""
    return {
        p.relative_to(directory).as_posix(): p
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not _MANIFEST.match(p.name)
    }


def write_manifest(directory: Path, rank: int) -> None:
    """`sha256_rank<R>.json`: the sha256 of every file this rank put in its checkpoint directory (call last)."""
    listing = {name: file_sha256(path) for name, path in _files(directory).items()}
    (directory / f"sha256_rank{rank}.json").write_text(json.dumps(listing, indent=1, sort_keys=True))


def _listed(directory: Path) -> dict[str, set[str]]:
    allowed: dict[str, set[str]] = {}
    manifests = sorted(p for p in directory.iterdir() if _MANIFEST.match(p.name))
    if not manifests:
        raise UserError(
            f"checkpoint {directory} has no sha256 manifest (sha256_rank<R>.json), so its pickled engine files "
            "cannot be trusted: refusing to load it; resume from a checkpoint this platform wrote, or start fresh"
        )
    for manifest in manifests:
        try:
            listing = json.loads(manifest.read_text())
        except (ValueError, UnicodeDecodeError) as e:
            raise UserError(f"checkpoint manifest {manifest} is not JSON: refusing the checkpoint") from e
        if not isinstance(listing, dict) or not all(isinstance(v, str) for v in listing.values()):
            raise UserError(f"checkpoint manifest {manifest} is not a mapping of file to sha256: refusing it")
        for name, digest in listing.items():
            allowed.setdefault(name, set()).add(digest)
    return allowed


def verify_manifest(directory: Path) -> None:
    """Every file of a checkpoint directory matches the sha256 its writer recorded; else a UserError."""
    allowed, present = _listed(directory), _files(directory)
    problems = [f"{n} is not in any manifest" for n in sorted(set(present) - set(allowed))]
    problems += [f"{n} is missing" for n in sorted(set(allowed) - set(present))]
    problems += [
        f"{n} does not match its sha256"
        for n in sorted(set(present) & set(allowed))
        if file_sha256(present[n]) not in allowed[n]
    ]
    if problems:
        raise UserError(
            f"checkpoint {directory} fails its sha256 manifest ({'; '.join(problems[:3])}): it changed after "
            "it was saved; refusing to load it (restore it, or start fresh with resume_from='')"
        )


def write_state(directory: Path, rank: int, state: dict[str, Any]) -> None:
    """Rank-local RNG state (every rank), the recipe state (rank 0), then this rank's sha256 manifest.

    Call after the engine has written its files into `directory`: the manifest lists them all.
    """
    from safetensors.torch import save_file

    save_file({"cpu": torch.get_rng_state()}, str(directory / f"rng_rank{rank}.safetensors"))
    if rank == 0:
        (directory / STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True))
    write_manifest(directory, rank)


def read_state(directory: Path, rank: int, expect: dict[str, Any]) -> tuple[dict[str, Any], torch.Tensor]:
    """The recipe state and this rank's RNG state; a checkpoint of a different setup, or one that fails its
    sha256 manifest, is a UserError. Call before the engine loads anything from `directory`."""
    from safetensors.torch import load_file

    verify_manifest(directory)
    state = json.loads((directory / STATE_FILE).read_text())
    for key, value in expect.items():
        if state.get(key) != value:
            raise UserError(
                f"checkpoint {directory} was written with {key}={state.get(key)!r}, this run has {value!r}: "
                f"resume with the same {key}, or start fresh (sft.resume_from='')"
            )
    rng_file = directory / f"rng_rank{rank}.safetensors"
    return state, load_file(str(rng_file))["cpu"]
