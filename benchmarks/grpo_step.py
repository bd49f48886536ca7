"""GRPO step benchmark on CPU, tiny preset: rollout tokens/s and the generate / masks / reward / update split.

    .venv/bin/python benchmarks/grpo_step.py [--steps 4] [--workers 1] [--prompts 2] [--group 4] [--tokens 64]

Generated data (vrt data synth + prepare, 128 px), a random-init tiny model saved as the initial
model (it never emits the end token, so every rollout has exactly --tokens tokens), the real
recipe on Ray Train (HF rollout engine, DeepSpeed ZeRO-2, gloo). Figures come from the run's
MLflow metrics; the first step (warm-up) is left out of the means.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEYS = (
    "rollout_tokens_per_s",
    "response_length",
    "time/generate_s",
    "time/masks_s",
    "time/reward_s",
    "time/update_s",
    "step_time_s",
)


def _history(run_dir: str, key: str) -> list[float]:
    from mlflow import MlflowClient

    from vrt.tracking import configure

    client = MlflowClient()
    (run,) = client.search_runs([configure()], f"tags.`vrt.run_dir` = '{run_dir}'")
    return [m.value for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--prompts", type=int, default=2, help="prompts per worker per step")
    parser.add_argument("--group", type=int, default=4, help="rollouts per prompt")
    parser.add_argument("--tokens", type=int, default=64, help="max new tokens per rollout")
    args = parser.parse_args()
    import ray

    from components.dataset.step import prepare_pointer, synth_raw
    from components.grpo.config import load_grpo_config
    from components.grpo.launch import run_local
    from models import RSa2VA, load_preset

    tmp = Path(tempfile.mkdtemp(prefix="vrt-bench-grpo-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    rows = args.steps * args.workers * args.prompts
    synth_raw(str(tmp / "raw"), rows, 1, 0, 128)
    data = tmp / "data"
    prepare_pointer("vrt-80k", str(tmp / "raw" / "vrt-80k"), str(data), "synthetic", str(tmp / "data.json"))
    init = RSa2VA.from_preset(load_preset("tiny"), seed=0).save_pretrained(tmp / "init")
    ray.init(num_cpus=max(2, args.workers), include_dashboard=False, log_to_driver=False)
    overrides = [
        f"init_from={init}",
        f"grpo.dataset={data}",
        f"grpo.output={tmp / 'out'}",
        "grpo.run_name=bench",
        f"grpo.max_steps={args.steps}",
        f"grpo.checkpoint_every={args.steps}",
        f"grpo.num_workers={args.workers}",
        f"grpo.prompts_per_step={args.prompts}",
        f"grpo.group_size={args.group}",
        f"grpo.max_new_tokens={args.tokens}",
    ]
    run_local(load_grpo_config("tiny", overrides))
    run_dir = str(tmp / "out" / "bench")
    means = {k: statistics.mean(_history(run_dir, k)[1:] or _history(run_dir, k)) for k in KEYS}
    ray.shutdown()
    rollouts = args.workers * args.prompts * args.group
    print(
        f"GRPO step, tiny preset, CPU: {args.workers} worker(s) x {args.prompts} prompts x "
        f"{args.group} rollouts "
        f"= {rollouts} rollouts/step, <= {args.tokens} new tokens, {args.steps} steps (first left out)"
    )
    print(f"  rollout tokens/s (generate only): {means['rollout_tokens_per_s']:.1f}")
    print(f"  mean response length: {means['response_length']:.1f} tokens")
    step = means["step_time_s"]
    for label, key in (
        ("generate", "time/generate_s"),
        ("masks (teacher-forced)", "time/masks_s"),
        ("reward", "time/reward_s"),
        ("update", "time/update_s"),
    ):
        print(f"  {label:<24} {means[key]:8.3f} s  ({100 * means[key] / step:5.1f} % of the step)")
    print(f"  {'step':<24} {step:8.3f} s")


if __name__ == "__main__":
    main()
