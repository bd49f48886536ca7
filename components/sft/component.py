"""KFP step `sft`: supervised fine-tuning (Ray Train + DeepSpeed), locally or as a KubeRay RayJob.

The Model artifact file is the JSON model manifest (uri, sha256, preset, step, lineage,
metrics); the weights stay in the object store. GPU placement is not set here: the pipeline
reads `components.sft.config.gpu_settings(preset)` and the RayJob's worker group gets it.
Logic: components/sft/step.py.
"""

from kfp import dsl

from components.images import TRAIN_IMAGE


@dsl.component(base_image=TRAIN_IMAGE)
def sft(
    config: str,
    overrides: list,
    dataset: dsl.Input[dsl.Dataset],
    model: dsl.Output[dsl.Model],
    runtime: str = "local",
    eval_dataset: dsl.Input[dsl.Dataset] = None,
):
    """Fine-tune the preset `config` (+ `overrides`) on `dataset`; `model` points at the exported model."""
    from components.sft.step import run_step

    model.metadata.update(
        run_step(config, [str(o) for o in overrides], dataset.path, eval_dataset.path if eval_dataset else "",
                 model.path, runtime)
    )
