"""KFP step `sft`: supervised fine-tuning (Ray Train + DeepSpeed), locally or as a KubeRay RayJob.

The Model artifact file is the JSON model manifest (uri, sha256, preset, step, lineage,
metrics); the weights stay in the object store. GPU placement is not set here: the pipeline
sets it on the task and it passes through (components/placement.py) to the RayJob's GPU
workers; this pod stays a CPU launcher.
Logic: components/sft/step.py.
"""

from kfp import dsl

from components.images import TRAIN_IMAGE


@dsl.component(
    base_image=TRAIN_IMAGE,
    task_config_passthroughs=[dsl.TaskConfigField.RESOURCES, dsl.TaskConfigField.KUBERNETES_NODE_SELECTOR,
                              dsl.TaskConfigField.KUBERNETES_TOLERATIONS],
)
def sft(
    config: str,
    overrides: list,
    dataset: dsl.Input[dsl.Dataset],
    model: dsl.Output[dsl.Model],
    task_config: dsl.TaskConfig,
    runtime: str = "local",
    eval_dataset: dsl.Input[dsl.Dataset] = None,
):
    """Fine-tune the preset `config` (+ `overrides`) on `dataset`; `model` points at the exported model."""
    from components.placement import gpu_overrides
    from components.sft.step import run_step

    wired = [str(o) for o in overrides] + gpu_overrides(task_config)
    model.metadata.update(run_step(config, wired, dataset.path, eval_dataset.path if eval_dataset else "", model.path,
                                   runtime))
