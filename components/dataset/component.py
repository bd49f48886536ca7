"""KFP steps of the dataset stage: `synth_data` (generated raw sources) and `prepare_dataset`.

`prepare_dataset` emits a Dataset artifact that is a JSON pointer to the published canonical
dataset (uri, source, revision, sha256 of its manifest, counts, schema_version); the same
fields are in the artifact's metadata. Logic: components/dataset/step.py.
"""

from kfp import dsl

from components.images import BASE_IMAGE


@dsl.component(base_image=BASE_IMAGE)
def synth_data(out_uri: str, n_train: int, n_bench: int, seed: int, image_size: int) -> str:
    """Write generated VRT-80k / VRT-Bench / ReasonSeg / VGR raw layouts under `out_uri`; returns it."""
    from components.dataset.step import synth_raw

    return synth_raw(out_uri, n_train, n_bench, seed, image_size)


@dsl.component(base_image=BASE_IMAGE)
def prepare_dataset(
    source: str, from_uri: str, out_uri: str, revision: str, dataset: dsl.Output[dsl.Dataset], runtime: str = "local"
):
    """Convert `source` from `from_uri` into canonical shards at `out_uri` (here, or as a RayJob with runtime
    kubernetes: this pod stays a launcher); `dataset` points at them."""
    from components.dataset.step import prepare_pointer

    dataset.metadata.update(prepare_pointer(source, from_uri, out_uri, revision, dataset.path, runtime))
