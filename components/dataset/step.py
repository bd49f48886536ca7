"""The `dataset` step: generate raw data, or prepare one source and describe it as a Dataset pointer.

The Dataset artifact is a small JSON pointer to the published dataset (the shards stay in the
object store): uri, source, revision, sha256 (of manifest.json), counts, schema_version, format.
Called by `components/dataset/component.py`; usable directly:

    from components.dataset.step import prepare_pointer
    pointer = prepare_pointer("vrt-bench", "data/raw/vrt-bench", "data/vrt-bench", "", "dataset.json")
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from vrt.data.prepare import PrepareConfig, prepare
from vrt.data.synth import synthesize_to
from vrt.errors import UserError

FORMAT = "vrt-canonical-parquet"


def synth_raw(out_uri: str, n_train: int, n_bench: int, seed: int, image_size: int) -> str:
    """Write the generated raw sources under `out_uri`; returns `out_uri` (the raw root)."""
    synthesize_to(out_uri, n_train, n_bench, seed, image_size)
    return out_uri


def prepare_pointer(
    source: str, from_uri: str, out_uri: str, revision: str, pointer_path: str, runtime: str = "local"
) -> dict[str, Any]:
    """Prepare `source` into `out_uri` (in a local process pool, or as Ray tasks of a RayJob with runtime
    `kubernetes`), write the pointer JSON to `pointer_path`, and return it."""
    if from_uri.startswith("hf://") and not re.fullmatch(r"[0-9a-f]{40}", revision or ""):
        raise UserError(
            f"revision {revision!r} for {from_uri} is not a commit sha: pin the dataset with the pipeline "
            "parameter revision=<40-hex sha> (vrt pipeline submit --param revision=<sha>)"
        )
    cfg = PrepareConfig(source=source, from_uri=from_uri, out_uri=out_uri, revision=revision)
    if runtime == "local":
        manifest = prepare(cfg)
    elif runtime == "kubernetes":
        from components.dataset.launch import ClusterSettings, prepare_on_cluster

        manifest = prepare_on_cluster(cfg, ClusterSettings())
    else:
        raise UserError(f"unknown runtime {runtime!r}: use local or kubernetes")
    pointer = {
        "uri": out_uri,
        "source": manifest.source,
        "revision": manifest.revision,
        "sha256": manifest.sha256,
        "counts": manifest.counts,
        "schema_version": manifest.schema_version,
        "format": FORMAT,
    }
    path = Path(pointer_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pointer, indent=2, sort_keys=True) + "\n")
    return pointer
