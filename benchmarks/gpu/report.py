"""Merge the checks' figures into one JSON and print the short table (last lines of the GPU run's output).

    python -m benchmarks.gpu.report FRAGMENT_DIR --out $OUT/gpu-figures.json

FRAGMENT_DIR holds `<name>.json` (a check's figures) and `<name>.rc` (its exit status; 124 = stopped by
its budget) for every check run.sh ran. MFU of the SFT steps = model TFLOP/s / the `peak` check's
measured matmul TFLOP/s (benchmarks/gpu/flops.py has the formula). Exit status 1 if any check failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

# the figures each check must produce (the CPU dry-run test holds the kit to them)
FIELDS: dict[str, tuple[str, ...]] = {
    "peak": ("matmul_tflops", "matmul_n", "matmul_dtype", "device_name"),
    "correctness": ("logits_rel_err", "mask_logits_rel_err", "logits_rel_err_fp32", "mask_logits_rel_err_fp32",
                    "masks_compared", "mask_iou_min_fp32", "mask_iou_min_bf16"),
    "sft": ("seq_tokens", "image_tokens", "step_s", "tokens_per_s", "peak_mem_gib", "params_trainable",
            "model_tflop_per_step", "model_tflops", "counted_tflop_per_step", "mfu"),
    "generate": ("batch1_tokens_per_s", "batch8_tokens_per_s", "max_new_tokens"),
    "grpo": ("generate_s", "masks_s", "reward_s", "update_s", "step_time_s", "rollout_tokens_per_s"),
    "predict": ("p50_s", "max_s", "repeats", "max_new_tokens"),
}
# bf16 LLM logits vs fp32 (the 1e-2); fp32 on the device vs the CPU far tighter (METHOD.md: << 1e-3)
LIMITS = {"logits_rel_err": 1e-2, "logits_rel_err_fp32": 1e-3, "mask_logits_rel_err_fp32": 1e-3}
MIN_IOU = 0.99


def _commit() -> str:
    """HEAD of this checkout, or the commit prepare.sh wrote beside the wheels (the copy may have no .git)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        stamp = Path(".gpu-wheels/COMMIT")
        return stamp.read_text().strip() if stamp.is_file() else "unknown"


def collect(fragments: Path) -> dict[str, dict[str, Any]]:
    """name -> figures (+ status: ok | failed rc=N | timeout | not run) of every check."""
    checks: dict[str, dict[str, Any]] = {}
    for rc_file in sorted(fragments.glob("*.rc")):
        name = rc_file.stem
        data = fragments / f"{name}.json"
        figures = json.loads(data.read_text()) if data.is_file() else {}
        rc = int(rc_file.read_text().strip() or "1")
        if rc != 0:
            figures["status"] = "timeout" if rc in (124, 137) else f"failed rc={rc}"
        checks[name] = figures
    peak = checks.get("peak", {}).get("matmul_tflops")
    for figures in checks.values():
        if figures.get("check") == "sft" and peak and "model_tflops" in figures:
            figures["mfu"] = figures["model_tflops"] / peak
    return checks


def verdicts(checks: dict[str, dict[str, Any]]) -> list[str]:
    """Problems: failed checks, missing fields, correctness outside its limits."""
    problems = []
    for name, figures in checks.items():
        if figures.get("status") != "ok":
            problems.append(f"{name}: {figures.get('status', 'no figures')}")
            continue
        missing = [k for k in FIELDS[figures["check"]] if k not in figures]
        if missing:
            problems.append(f"{name}: missing {missing}")
        if figures["check"] == "correctness":
            for key, limit in LIMITS.items():
                if not figures[key] < limit:
                    problems.append(f"{name}: {key} {figures[key]:.3g} >= {limit}")
            if figures["masks_compared"] == 0 or not figures["mask_iou_min_fp32"] >= MIN_IOU:
                problems.append(f"{name}: fp32 mask IoU {figures['mask_iou_min_fp32']} < {MIN_IOU}")
    return problems


def _row(name: str, f: dict[str, Any]) -> str:
    if f.get("status") != "ok":
        return f"{name:<12} {f.get('status', '?')}"
    kind = f["check"]
    if kind == "peak":
        return f"{name:<12} {f['device_name']}: {f['matmul_dtype']} matmul {f['matmul_tflops']:.1f} TFLOP/s"
    if kind == "correctness":
        return (f"{name:<12} bf16 vs CPU fp32: logits {f['logits_rel_err']:.1e}, mask logits "
                f"{f['mask_logits_rel_err']:.1e}, IoU {f['mask_iou_min_bf16']:.3f}; fp32: logits "
                f"{f['logits_rel_err_fp32']:.1e}, IoU {f['mask_iou_min_fp32']:.4f} ({f['masks_compared']} masks)")
    if kind == "sft":
        mfu = f"{100 * f['mfu']:.1f}%" if "mfu" in f else "n/a"
        return (f"{name:<12} {f['preset']}: {f['seq_tokens']} tok ({f['image_tokens']} image), step {f['step_s']:.3f} s, "
                f"{f['tokens_per_s']:.0f} tok/s, peak {f['peak_mem_gib']:.1f} GiB, MFU {mfu}")
    if kind == "generate":
        return (f"{name:<12} {f['preset']}: {f['batch1_tokens_per_s']:.1f} tok/s (batch 1), "
                f"{f['batch8_tokens_per_s']:.1f} tok/s (batch 8), {f['max_new_tokens']} new")
    if kind == "grpo":
        return (f"{name:<12} {f['preset']}: generate {f['generate_s']:.2f} s, masks {f['masks_s']:.2f} s, reward "
                f"{f['reward_s']:.2f} s, update {f['update_s']:.2f} s, step {f['step_time_s']:.2f} s")
    return f"{name:<12} {f['preset']}: p50 {f['p50_s']:.3f} s (max {f['max_s']:.3f} s) over {f['repeats']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fragments", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mode", default="gpu")
    args = parser.parse_args(argv)
    checks = collect(args.fragments)
    problems = verdicts(checks)
    report = {"commit": _commit(), "mode": args.mode, "checks": checks, "problems": problems}
    args.out.write_text(json.dumps(report, indent=2, sort_keys=True))
    print(f"GPU check kit ({args.mode}, commit {report['commit'][:12]}); figures: {args.out}")
    for name, figures in checks.items():
        print(_row(name, figures))
    print("problems: " + ("; ".join(problems) if problems else "none"))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
