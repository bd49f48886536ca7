"""KFP step `grpo`: GRPO from the SFT model on a canonical dataset (logic: components/grpo/step.py).

The Model output is the GRPO model manifest (JSON pointer: uri, sha256, step, lineage); the
weights go straight to `grpo.output` (local directory or s3://). With runtime "kubernetes" the
step creates a KubeRay RayJob and stays a small CPU launcher; GPU placement is set by the pipeline.
"""

from kfp import dsl

from components.images import TRAIN_IMAGE


@dsl.component(
    base_image=TRAIN_IMAGE,
    task_config_passthroughs=[dsl.TaskConfigField.RESOURCES, dsl.TaskConfigField.KUBERNETES_NODE_SELECTOR,
                              dsl.TaskConfigField.KUBERNETES_TOLERATIONS],
)
def grpo(
    config: str,
    overrides: list,
    dataset: dsl.Input[dsl.Dataset],
    init_model: dsl.Input[dsl.Model],
    model: dsl.Output[dsl.Model],
    task_config: dsl.TaskConfig,
    runtime: str = "local",
):
    """GRPO with preset `config` plus `overrides` (key=value); `model` points at the trained model."""
    from components.grpo.step import grpo_step
    from components.placement import gpu_overrides

    wired = [str(o) for o in overrides] + gpu_overrides(task_config)
    model.metadata.update(grpo_step(config, wired, dataset.path, init_model.path, model.path, runtime))
