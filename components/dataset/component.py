"""KFP steps of the dataset stage: `synth_data` (generated raw sources) and `prepare_dataset`.

`prepare_dataset` emits a Dataset artifact that is a JSON pointer to the published canonical
dataset (uri, source, revision, sha256 of its manifest, counts, schema_version); the same
fields are in the artifact's metadata. Logic: components/dataset/step.py.
"""

from kfp import dsl

from components.images import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def synth_data(out_uri: str, n_train: int, n_bench: int, seed: int, image_size: int) -> str:
    """Write generated VRT-80k / VRT-Bench / ReasonSeg / VGR raw layouts under `out_uri`; returns it.

    Args:
        out_uri: Folder or s3:// prefix the raw sources go under.
        n_train: Training samples to generate.
        n_bench: Benchmark samples to generate.
        seed: Random seed (same seed, same data).
        image_size: Side of the generated square images, in pixels.
    """
    from components.dataset.step import synth_raw
    from vrt.k8s.platform import check_step_env

    check_step_env()
    return synth_raw(out_uri, n_train, n_bench, seed, image_size)


@dsl.component(base_image=BASE_IMAGE, install_kfp_package=False)
def prepare_dataset(
    source: str, from_uri: str, out_uri: str, revision: str, dataset: dsl.Output[dsl.Dataset], runtime: str = "local"
):
    """Convert `source` from `from_uri` into canonical shards at `out_uri` (here, or as a RayJob with runtime
    kubernetes: this pod stays a launcher); `dataset` points at them.

    Args:
        source: Source layout: vrt-80k, vrt-bench, reasonseg or vgr.
        from_uri: Raw data: a folder, s3:// prefix, or hf://datasets/NAME (then `revision` is required).
        out_uri: Folder or s3:// prefix of the published canonical dataset.
        revision: Commit sha (40 hex) of an hf:// source; recorded in the manifest.
        dataset: Output: JSON pointer (uri, source, revision, sha256, counts, schema_version).
        runtime: local (a process pool in this pod) or kubernetes (Ray tasks of a RayJob).
    """
    from components.dataset.step import prepare_pointer
    from vrt.k8s.platform import check_step_env

    check_step_env()
    dataset.metadata.update(prepare_pointer(source, from_uri, out_uri, revision, dataset.path, runtime))
