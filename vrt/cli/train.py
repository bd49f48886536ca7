"""`vrt train ...` commands: supervised fine-tuning on Ray Train + DeepSpeed.

    vrt train sft --config pipelines/presets/tiny.yaml sft.dataset=.vrt/data/train
    vrt train sft --launcher none ...                       # no Ray: in this process (or under torchrun)
"""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="train commands.", no_args_is_help=True)
LAUNCHER_HELP = ("runtime local: ray (Ray Train workers) or none (this process, no Ray; one process per device, "
                 "torchrun's RANK/WORLD_SIZE when set)")


@app.command(context_settings={"allow_extra_args": False})
def sft(
    config: Annotated[str, typer.Option("--config", "-c", help="preset YAML (pipelines/presets/<preset>.yaml) or a preset name")],
    overrides: Annotated[list[str] | None, typer.Argument(help="section.key=value overrides, e.g. sft.lr=1e-4")] = None,
    runtime: Annotated[str, typer.Option(help="local (Ray on this machine) or kubernetes (a KubeRay RayJob)")] = "local",
    image: Annotated[str, typer.Option(help="training image for runtime kubernetes (default: TRAIN_IMAGE)")] = "",
    launcher: Annotated[str, typer.Option(help=LAUNCHER_HELP)] = "ray",
) -> None:
    """Fine-tune a model preset on a canonical dataset; the model manifest (JSON) ends stdout.

    Example:

        vrt train sft --config pipelines/presets/tiny.yaml sft.dataset=.vrt/data/train sft.eval_dataset=.vrt/data/bench

    Resume the newest checkpoint under sft.output:  ... sft.resume_from=latest
    """
    from components.sft.config import load_train_config
    from components.sft.launch import run_sft
    from vrt.console import console

    cfg = load_train_config(config, list(overrides or []))
    manifest = run_sft(cfg, runtime=runtime, image=image, launcher=launcher)
    m = manifest.metrics
    if "eval_mask_iou" in m:
        console.print(
            f"eval (teacher-forced): loss {m.get('eval_before_loss', float('nan')):.4f} -> {m['eval_loss']:.4f}, "
            f"mask IoU {m.get('eval_before_mask_iou', float('nan')):.4f} -> {m['eval_mask_iou']:.4f}"
        )
    console.print(f"model: {manifest.uri} (step {manifest.step}, sha256 {manifest.sha256[:12]})")
    typer.echo(manifest.to_json(), nl=False)


@app.command(context_settings={"allow_extra_args": False})
def grpo(
    overrides: list[str] = typer.Argument(None, help="key=value overrides (bare keys mean grpo.KEY), e.g. init_from=URI"),
    config: str = typer.Option(..., "--config", "-c", help="preset YAML (pipelines/presets/<preset>.yaml) or a preset name"),
    runtime: str = typer.Option("local", help="local (Ray on this machine) or kubernetes (a KubeRay RayJob)"),
    image: str = typer.Option("", help="training image for runtime kubernetes (default: components.images.TRAIN_IMAGE)"),
    launcher: str = typer.Option("ray", help=LAUNCHER_HELP),
) -> None:
    """GRPO on a canonical dataset from an SFT model; prints the model manifest (JSON) on stdout.

    Example:

        vrt train grpo --config pipelines/presets/tiny.yaml init_from=.vrt/sft/<run>/model_manifest.json grpo.dataset=.vrt/data/train

    Keep the 2000 highest-variance prompts first: ... grpo.select_high_variance=2000; resume: ... grpo.resume_from=latest
    """
    from components.grpo.config import load_grpo_config
    from components.grpo.launch import run_grpo
    from vrt.console import console

    manifest = run_grpo(load_grpo_config(config, list(overrides or [])), runtime=runtime, image=image,
                        launcher=launcher)
    console.print(f"model: {manifest.uri} (step {manifest.step}, sha256 {manifest.sha256[:12]})")
    typer.echo(manifest.to_json(), nl=False)
