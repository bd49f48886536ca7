"""KFP step `sft`: supervised fine-tuning (Ray Train + DeepSpeed), locally or as a KubeRay RayJob.

The Model artifact file is the JSON model manifest (uri, sha256, preset, step, lineage,
metrics); the weights stay in the object store. GPU placement is not set here: the pipeline
sets it on the task and it passes through (components/placement.py) to the RayJob's GPU
workers; this pod stays a CPU launcher. On a cluster the RayJob goes to this pod's namespace
with the chart's Secrets (vrt/k8s/platform.py). Logic: components/sft/step.py.
"""

from kfp import dsl

from components.images import TRAIN_IMAGE


@dsl.component(
    base_image=TRAIN_IMAGE,
    install_kfp_package=False,
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
    output: str = "",
    eval_dataset: dsl.Input[dsl.Dataset] = None,
    mix_dataset: dsl.Input[dsl.Dataset] = None,
    weights: list = [],  # noqa: B006 (KFP reads the default; never mutated)
    launcher: str = "ray",
):
    """Fine-tune the preset `config` (+ `overrides`) on `dataset` (mixed with `mix_dataset` when given, at
    `weights`); `model` points at the exported model.

    Args:
        config: Preset name (tiny, 2b, 4b, 8b) or a preset YAML path.
        overrides: `key=value` settings applied after the preset, e.g. ["sft.lr=1e-4", "sft.max_steps=100"].
        dataset: Training Dataset pointer from the dataset step.
        model: Output: the model manifest (uri, sha256, preset, step, lineage, metrics).
        task_config: GPU placement set by the pipeline, forwarded to the RayJob's workers.
        runtime: local (Ray on this machine) or kubernetes (a KubeRay RayJob).
        output: Where checkpoints and the model go (sft.output); empty: the preset's.
        eval_dataset: Optional held-out Dataset pointer for evaluation during training.
        mix_dataset: Optional second training Dataset pointer (e.g. VGR), mixed with `dataset`.
        weights: SFT weights (passes per epoch) of [dataset, mix_dataset]; empty: 1 each.
        launcher: runtime local: ray (Ray Train workers) or none (the recipe in this step's process).
    """
    from components.placement import gpu_overrides
    from components.sft.step import run_step
    from vrt.k8s import platform

    platform.check_step_env()
    wired = [f"sft.output={output}"] if output else []
    if runtime == "kubernetes":
        wired += platform.rayjob_overrides("sft")
    wired += [str(o) for o in overrides] + gpu_overrides(task_config)
    model.metadata.update(run_step(config, wired, dataset.path, eval_dataset.path if eval_dataset else "", model.path,
                                   runtime, mix_dataset.path if mix_dataset else "", [float(w) for w in weights],
                                   launcher=launcher))
