"""Launcher checks before any training (empty prompts, non-[SEG] model, resume URIs), the RayJob it
renders for the cluster, and the KFP component's interface."""

from __future__ import annotations

import json

import pytest
import yaml

from components.grpo.config import load_grpo_config
from components.grpo.launch import _check_inputs, rayjob_manifest
from components.sft.checkpoint import resolve_resume
from vrt.data.manifest import Manifest, write_manifest
from vrt.errors import UserError


def _empty_dataset(root):
    root.mkdir()
    write_manifest(
        str(root),
        Manifest(
            source="vrt-80k",
            revision="x",
            counts={"input": 0, "written": 0, "quarantined": 0},
            quarantine_reasons={},
            shards=[],
        ),
    )
    return root


def test_empty_dataset_and_missing_settings(tmp_path):
    with pytest.raises(UserError, match="grpo.dataset is empty"):
        _check_inputs(load_grpo_config("tiny", ["init_from=/m"]))
    empty = _empty_dataset(tmp_path / "empty")
    with pytest.raises(UserError, match="lists no rows: the dataset is empty"):
        _check_inputs(load_grpo_config("tiny", ["init_from=/m", f"grpo.dataset={empty}"]))


def test_model_without_seg_is_rejected_before_training(tmp_path):
    from tests.sft.canonical import write_dataset

    data = write_dataset(tmp_path / "d", n=2, seed=0, shards=1)
    model = tmp_path / "qwen"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "qwen3_vl"}))
    with pytest.raises(UserError, match=r"has no \[SEG\] token"):
        _check_inputs(load_grpo_config("tiny", [f"init_from={model}", f"grpo.dataset={data}"]))


def test_resolve_resume(tmp_path):
    assert resolve_resume("", str(tmp_path)) == ""
    assert resolve_resume("latest", str(tmp_path)) == ""
    step = tmp_path / "run" / "step_0000003"
    step.mkdir(parents=True)
    (step / "state.json").write_text(json.dumps({"world": 1, "step": 3}))
    assert resolve_resume("latest", str(tmp_path)) == ""  # incomplete: rank 0's RNG file is missing
    (step / "rng_rank0.safetensors").write_bytes(b"x")
    assert resolve_resume("latest", str(tmp_path)) == str(step)
    assert resolve_resume(str(step), str(tmp_path)) == str(step)
    with pytest.raises(UserError, match="grpo.resume_from=.* is not a checkpoint"):
        resolve_resume(str(tmp_path / "run"), str(tmp_path), section="grpo")


def test_rayjob_puts_workers_on_the_gpu_pool_and_pins_the_model(tmp_path, monkeypatch):
    monkeypatch.setenv("VRT_NAMESPACE", "kubeflow")
    manifest = tmp_path / "model_manifest.json"
    manifest.write_text(json.dumps({"uri": "s3://vrt/sft/4b/run/model"}))
    job = load_grpo_config("4b", [f"init_from={manifest}", "grpo.dataset=s3://vrt/data"])
    rj = rayjob_manifest(job, "registry/vrt-train:1", "grpo-4b-x")
    spec = rj["spec"]
    assert spec["entrypoint"] == "python -m components.grpo.launch"
    (workers,) = spec["rayClusterSpec"]["workerGroupSpecs"]
    assert workers["replicas"] == 8
    assert workers["template"]["spec"]["nodeSelector"] == {"vrt.dev/gpu-pool": "true"}
    limits = workers["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 1
    raw = yaml.safe_load(yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]["VRT_GRPO_CONFIG"])
    assert raw["grpo"]["init_from"] == "s3://vrt/sft/4b/run/model" and raw["grpo"]["run_name"] == "grpo-4b-x"
    assert rj["metadata"]["labels"]["vrt.io/step"] == "grpo"


def test_kfp_component_interface(tmp_path):
    from kfp import compiler

    from components.grpo.component import grpo

    path = tmp_path / "grpo.yaml"
    compiler.Compiler().compile(grpo, str(path))
    spec = yaml.safe_load(path.read_text())
    inputs = spec["root"]["inputDefinitions"]
    assert set(inputs["parameters"]) == {"config", "overrides", "runtime", "launcher", "output", "task_config"}
    assert set(inputs["artifacts"]) == {"dataset", "init_model"}
    assert (
        spec["root"]["outputDefinitions"]["artifacts"]["model"]["artifactType"]["schemaTitle"]
        == "system.Model"
    )
    source = "\n".join(spec["deploymentSpec"]["executors"]["exec-grpo"]["container"]["command"])
    assert "from components.grpo.step import grpo_step" in source
