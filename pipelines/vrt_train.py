"""The VRT training pipeline (KFP v2): dataset -> (later steps are appended as they land).

Compile:  vrt pipeline compile --preset tiny --out vrt_train.yaml
Run here: vrt pipeline run --local            (kfp.local SubprocessRunner, generated data)

The pipeline is built per preset (`build_pipeline`): the preset decides where the data comes
from (generated for `tiny`, the Hugging Face datasets at pinned revisions otherwise) and the
GPU placement of every GPU step, so a reader finds all Kubernetes wiring here.
"""

from collections.abc import Callable

from kfp import dsl

from components.dataset.component import prepare_dataset, synth_data
from pipelines.settings import PipelineSettings


def build_pipeline(settings: PipelineSettings) -> Callable:
    """The pipeline function for one preset's settings."""
    data = settings.data

    @dsl.pipeline(
        name=f"vrt-train-{settings.preset}",
        description=f"VRT: dataset -> sft -> grpo -> evaluate -> register -> deploy (preset {settings.preset}).",
    )
    def vrt_train(
        work_uri: str = settings.work_uri,
        n_train: int = data.n_train,
        n_bench: int = data.n_bench,
        seed: int = data.seed,
        image_size: int = data.image_size,
    ) -> None:
        if data.generated:
            raw = synth_data(
                out_uri=f"{work_uri}/raw", n_train=n_train, n_bench=n_bench, seed=seed, image_size=image_size
            ).set_display_name("generate data")
            train_from, bench_from = f"{raw.output}/{data.train_source}", f"{raw.output}/vrt-bench"
        else:
            train_from, bench_from = data.train_from, data.bench_from
        prepare_dataset(
            source=data.train_source, from_uri=train_from, out_uri=f"{work_uri}/datasets/train", revision=data.revision
        ).set_display_name("dataset: train")
        prepare_dataset(
            source="vrt-bench", from_uri=bench_from, out_uri=f"{work_uri}/datasets/bench", revision=data.revision
        ).set_display_name("dataset: bench")

    return vrt_train
