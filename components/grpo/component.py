"""KFP step `grpo`: GRPO from the SFT model on a canonical dataset (logic: components/grpo/step.py).

The Model output is the GRPO model manifest (JSON pointer: uri, sha256, step, lineage); the
weights go straight to `grpo.output` (local directory or s3://). With runtime "kubernetes" the
step creates a KubeRay RayJob in its own namespace and stays a small CPU launcher; GPU placement
is set by the pipeline.
"""

from kfp import dsl

from components.images import TRAIN_IMAGE


@dsl.component(
    base_image=TRAIN_IMAGE,
    install_kfp_package=False,
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
    output: str = "",
    launcher: str = "ray",
):
    """GRPO with preset `config` plus `overrides` (key=value); `model` points at the trained model.

    Args:
        config: Preset name (tiny, 2b, 4b, 8b) or a preset YAML path.
        overrides: `key=value` settings applied after the preset, e.g. ["grpo.max_steps=50"].
        dataset: Prompt Dataset pointer from the dataset step.
        init_model: The SFT step's model manifest (the policy to start from).
        model: Output: the GRPO model manifest (uri, sha256, step, lineage).
        task_config: GPU placement set by the pipeline, forwarded to the RayJob's workers.
        runtime: local (Ray on this machine) or kubernetes (a KubeRay RayJob).
        output: Where checkpoints and the model go (grpo.output); empty: the preset's.
        launcher: runtime local: ray (Ray Train workers) or none (the recipe in this step's process).
    """
    from components.grpo.step import grpo_step
    from components.placement import gpu_overrides
    from vrt.k8s import platform

    platform.check_step_env()
    wired = [f"grpo.output={output}"] if output else []
    if runtime == "kubernetes":
        wired += platform.rayjob_overrides("grpo")
    wired += [str(o) for o in overrides] + gpu_overrides(task_config)
    model.metadata.update(grpo_step(config, wired, dataset.path, init_model.path, model.path, runtime, launcher))
