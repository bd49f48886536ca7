"""SFT throughput on CPU, tiny preset: 1 worker vs 2 workers DDP vs 2 workers DeepSpeed ZeRO-2.

    .venv/bin/python benchmarks/sft_throughput.py [--steps 6] [--rows 48]

Generated data (vrt data synth + prepare, 128 px), the same global batch (8) and data for all
three; the first step (warm-up) is left out of the means.
Prints samples/s, mean step time and the ratios to the single process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SETUPS = {
    "1 process": ["sft.num_workers=1", "sft.strategy=ddp"],
    "2 workers DDP": ["sft.num_workers=2", "sft.strategy=ddp"],
    "2 workers ZeRO-2": ["sft.num_workers=2", "sft.strategy=deepspeed", "sft.zero_stage=2"],
}


def _history(run_dir: str, key: str) -> list[float]:
    from mlflow import MlflowClient

    from vrt.tracking import configure

    client = MlflowClient()
    (run,) = client.search_runs([configure()], f"tags.`vrt.run_dir` = '{run_dir}'")
    return [m.value for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--rows", type=int, default=48)
    args = parser.parse_args()
    import ray

    from components.dataset.step import prepare_pointer, synth_raw
    from components.sft.config import load_train_config
    from components.sft.launch import run_local

    tmp = Path(tempfile.mkdtemp(prefix="vrt-bench-sft-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
    synth_raw(str(tmp / "raw"), args.rows, 1, 0, 128)
    data = tmp / "data"
    prepare_pointer("vrt-80k", str(tmp / "raw" / "vrt-80k"), str(data), "synthetic", str(tmp / "data.json"))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    results = {}
    for i, (name, extra) in enumerate(SETUPS.items()):
        overrides = [f"sft.dataset={data}", f"sft.output={tmp / 'out'}", f"sft.run_name=b{i}", "sft.micro_batch_size=2",
                     "sft.global_batch_size=8", f"sft.max_steps={args.steps}", f"sft.checkpoint_every={args.steps}",
                     "sft.loader_workers=1", *extra]
        manifest = run_local(load_train_config("tiny", overrides))
        run_dir = str(Path(manifest.uri).parent)
        times = _history(run_dir, "step_time_s")[1:]
        results[name] = (8 / statistics.mean(times), statistics.mean(times))
    ray.shutdown()
    base = results["1 process"][0]
    print(f"{'setup':<18} {'samples/s':>10} {'step time (s)':>14} {'vs 1 process':>13}")
    for name, (sps, step) in results.items():
        print(f"{name:<18} {sps:>10.2f} {step:>14.3f} {sps / base:>12.2f}x")
    ddp, zero2 = results["2 workers DDP"][0], results["2 workers ZeRO-2"][0]
    print(f"ZeRO-2 / DDP samples/s ratio: {zero2 / ddp:.2f}  (global batch 8, {args.steps - 1} timed steps, "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
