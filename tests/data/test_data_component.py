"""The dataset KFP components in a tiny pipeline under kfp.local's SubprocessRunner (no venv)."""

import json
from pathlib import Path

import pytest

from vrt.data.manifest import read_manifest


@pytest.mark.slow
def test_components_run_in_local_pipeline(tmp_path):
    from kfp import dsl, local

    from components.dataset.component import prepare_dataset, synth_data

    @dsl.pipeline(name="dataset-components-test")
    def pipeline(raw: str, bench_raw: str, out: str) -> dsl.Dataset:
        raw_task = synth_data(out_uri=raw, n_train=4, n_bench=3, seed=1, image_size=48)
        prep = prepare_dataset(source="vrt-bench", from_uri=bench_raw, out_uri=out, revision="")
        prep.after(raw_task)
        return prep.outputs["dataset"]

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    raw, out = tmp_path / "raw", tmp_path / "bench"
    dataset = pipeline(raw=str(raw), bench_raw=str(raw / "vrt-bench"), out=str(out)).output

    manifest = read_manifest(str(out))
    pointer = json.loads(Path(dataset.path).read_text())
    assert pointer == {
        "uri": str(out),
        "source": "vrt-bench",
        "revision": manifest.revision,
        "sha256": manifest.sha256,
        "counts": {"input": 3, "written": 3, "quarantined": 0},
        "schema_version": 1,
        "format": "vrt-canonical-parquet",
    }
    assert {k: dataset.metadata[k] for k in pointer} == pointer
    assert (raw / "vgr" / "vgr_sft.json").is_file()
