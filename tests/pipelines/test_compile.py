"""The compiled pipeline: steps, GPU placement read from the preset, passthrough to RayJobs, no secrets."""

from __future__ import annotations

import types

import pytest
import yaml

from components.placement import gpu_overrides
from pipelines.compile import compile_pipeline
from tests.pipelines.spec import BENCH_TASKS, DATA_TASKS, executor_of, producer, task_keys, task_of
from vrt.errors import UserError
from vrt.k8s.secrets import find_embedded_secrets

SHA = "0123456789abcdef0123456789abcdef01234567"
GPU_STEPS = ("exec-sft", "exec-grpo", "exec-predict", "exec-predict-2")


def compiled(preset: str, tmp_path, **overrides) -> tuple[dict, dict]:
    path = compile_pipeline(preset, tmp_path / f"{preset}.yaml", overrides)
    docs = list(yaml.safe_load_all(path.read_text()))
    return docs[0], (docs[1] if len(docs) > 1 else {})


def test_tiny_chain_has_every_step_and_no_gpu(tmp_path):
    spec, platform = compiled("tiny", tmp_path)
    assert sorted(spec["root"]["dag"]["tasks"]) == [
        "deploy", "evaluate", "evaluate-2", "grpo", "predict", "predict-2", "prepare-dataset", "prepare-dataset-2",
        "prepare-dataset-3", "prepare-dataset-4", "register", "sft", "synth-data",
    ]
    assert set(task_keys(spec)) == {*DATA_TASKS, *BENCH_TASKS, "generate data", "sft", "grpo", "register", "deploy"}
    for executor in spec["deploymentSpec"]["executors"].values():
        assert "accelerator" not in executor["container"].get("resources", {})
    assert platform == {}


def test_4b_gpu_steps_carry_accelerator_limits_node_selector_tolerations(tmp_path):
    spec, platform = compiled("4b", tmp_path)
    executors = spec["deploymentSpec"]["executors"]
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert "synth-data" not in spec["root"]["dag"]["tasks"]
    for name in GPU_STEPS:
        res = executors[name]["container"]["resources"]
        assert res["accelerator"]["resourceType"] == "nvidia.com/gpu"
        assert res["accelerator"]["resourceCount"] == "1"
        assert (res["resourceCpuLimit"], res["resourceMemoryLimit"]) == ("8", "64Gi")
        assert k8s[name]["nodeSelector"] == {"labels": {"vrt.dev/gpu-pool": "true"}}
        assert k8s[name]["tolerations"] == [
            {"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Equal", "value": "present"}
        ]
    for name in set(executors) - set(GPU_STEPS):
        assert "accelerator" not in executors[name]["container"].get("resources", {})
    # The training steps are CPU launchers: their GPU settings pass through to the RayJob workers.
    for comp in ("comp-sft", "comp-grpo"):
        fields = [p["field"] for p in spec["components"][comp]["taskConfigPassthroughs"]]
        assert fields == ["RESOURCES", "KUBERNETES_NODE_SELECTOR", "KUBERNETES_TOLERATIONS"]
    assert "taskConfigPassthroughs" not in spec["components"]["comp-predict"]


def test_compiled_pipelines_embed_no_secret(tmp_path):
    for preset in ("tiny", "4b"):
        spec, platform = compiled(preset, tmp_path, **{"data.revision": SHA} if preset != "tiny" else {})
        assert find_embedded_secrets([spec, platform]) == []


def test_out_must_be_yaml(tmp_path):
    with pytest.raises(UserError, match="must end with .yaml"):
        compile_pipeline("tiny", tmp_path / "p.json")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "config, expected",
    [
        (None, []),
        (types.SimpleNamespace(resources=None, node_selector=None, tolerations=None), []),
        (
            types.SimpleNamespace(
                resources={"limits": {"nvidia.com/gpu": "2", "cpu": "8", "memory": "64Gi"}},
                node_selector={"pool": "gpu"},
                tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            ),
            [
                "gpu.resource=nvidia.com/gpu",
                "gpu.count=2",
                'gpu.node_selector={"pool": "gpu"}',
                'gpu.tolerations=[{"effect": "NoSchedule", "key": "nvidia.com/gpu", "operator": "Exists"}]',
            ],
        ),
    ],
)
def test_gpu_overrides_from_task_config(config, expected):
    assert gpu_overrides(config) == expected


def test_gpu_overrides_reach_the_rayjob_config():
    from components.sft.config import load_train_config

    cfg = types.SimpleNamespace(
        resources={"limits": {"nvidia.com/gpu": "4"}}, node_selector={"pool": "a100"}, tolerations=None
    )
    tc = load_train_config("4b", gpu_overrides(cfg))
    assert (tc.gpu.count, dict(tc.gpu.node_selector)) == (4, {"pool": "a100"})
    assert tc.gpu.tolerations == [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}]


def test_4b_task_hygiene(tmp_path):
    """Caching off for side effects and training, retries with backoff on data/evaluate, CPU/memory
    requests and limits on every task, no package install at pod start, documented inputs, typed predictions."""
    spec, platform = compiled("4b", tmp_path)
    tasks = spec["root"]["dag"]["tasks"]
    for name in ("sft", "grpo", "register", "deploy"):
        assert tasks[name]["cachingOptions"] == {}, name  # enableCache false
    for name in (*DATA_TASKS, *BENCH_TASKS):
        policy = task_of(spec, name)["retryPolicy"]
        assert policy["maxRetryCount"] >= 2 and policy["backoffFactor"] == 2.0 and policy["backoffMaxDuration"] == "600s"
    for name, executor in spec["deploymentSpec"]["executors"].items():
        res = executor["container"]["resources"]
        assert {"resourceCpuRequest", "resourceCpuLimit", "resourceMemoryRequest", "resourceMemoryLimit"} <= set(res), name
        assert "pip install" not in "\n".join(executor["container"]["command"]), name
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for name in (executor_of(spec, display) for display in DATA_TASKS):
        assert k8s[name]["emptyDirMounts"] == [{"mountPath": "/tmp", "sizeLimit": "1Gi", "volumeName": "scratch"}]
        # a launcher: conversion runs as Ray tasks of the RayJob it creates (components/dataset/launch.py)
        assert spec["deploymentSpec"]["executors"][name]["container"]["resources"]["resourceMemoryLimit"] == "4Gi"
    assert k8s["exec-deploy"]["podMetadata"]["labels"] == {"vrt.io/role": "deployer"}
    for comp in spec["components"].values():
        for kind in ("parameters", "artifacts"):
            for pname, p in comp.get("inputDefinitions", {}).get(kind, {}).items():
                assert p.get("description"), f"{comp['executorLabel']}.{pname} has no docstring Args entry"
    predictions = spec["components"]["comp-predict"]["outputDefinitions"]["artifacts"]["predictions"]
    assert predictions["artifactType"]["schemaTitle"] == "system.Dataset"


def test_training_caching_can_be_asked_for(tmp_path):
    spec, _ = compiled("4b", tmp_path, cache_training=True)
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["sft"]["cachingOptions"] == tasks["grpo"]["cachingOptions"] == {"enableCache": True}
    assert tasks["register"]["cachingOptions"] == tasks["deploy"]["cachingOptions"] == {}


@pytest.mark.parametrize("preset", ["tiny", "4b"])
def test_both_benchmarks_are_predicted_scored_and_gated(preset, tmp_path):
    """VRT-Bench and ReasonSeg each: dataset -> predict (the GRPO model) -> evaluate (Metrics + HTML);
    register reads both metric sets and the gate's guards of both benchmarks; both reach the outputs."""
    spec, _ = compiled(preset, tmp_path)
    for bench in ("vrt-bench", "reasonseg"):
        dataset, pred, score = f"dataset: {bench}", f"evaluate: predict {bench}", f"evaluate: score {bench}"
        assert task_of(spec, dataset)["inputs"]["parameters"]["source"] == {"runtimeValue": {"constant": bench}}
        assert (producer(spec, pred, "dataset"), producer(spec, pred, "model")) == (dataset, "grpo")
        assert task_of(spec, score)["inputs"]["parameters"]["bench"] == {"runtimeValue": {"constant": bench}}
        assert producer(spec, score, "predictions") == pred
    rules = task_of(spec, "evaluate: score reasonseg")["inputs"]["parameters"]
    assert (rules["empty"], rules["ignore"]) == ({"runtimeValue": {"constant": "one"}},
                                                 {"runtimeValue": {"constant": "foreground"}})
    assert producer(spec, "register", "metrics") == "evaluate: score vrt-bench"
    assert producer(spec, "register", "reasonseg_metrics") == "evaluate: score reasonseg"
    assert producer(spec, "register", "reasonseg_dataset") == "dataset: reasonseg"
    assert producer(spec, "register", "dataset") == "dataset: train"
    reg = task_of(spec, "register")["inputs"]
    assert reg["parameters"]["primary"] == {"runtimeValue": {"constant": "vrt_bench/A-mIoU"}}
    assert reg["parameters"]["guards"] == {
        "runtimeValue": {"constant": "vrt_bench/R-LQ=0.02,reasonseg/gIoU=0.02,reasonseg/cIoU=0.02"}
    }
    outputs = spec["root"]["outputDefinitions"]["artifacts"]
    assert {"metrics", "report", "reasonseg_metrics", "reasonseg_report"} <= set(outputs)


def test_sft_trains_on_the_weighted_mixture_grpo_on_the_train_source(tmp_path):
    spec, _ = compiled("tiny", tmp_path)
    assert producer(spec, "sft", "dataset") == "dataset: train"
    assert producer(spec, "sft", "mix_dataset") == "dataset: train vgr"
    assert task_of(spec, "sft")["inputs"]["parameters"]["weights"]["runtimeValue"]["constant"] == [1.0, 0.5]
    assert task_of(spec, "dataset: train vgr")["inputs"]["parameters"]["source"]["runtimeValue"]["constant"] == "vgr"
    assert set(task_of(spec, "grpo")["inputs"]["artifacts"]) == {"dataset", "init_model"}
    assert producer(spec, "grpo", "dataset") == "dataset: train"
    spec, _ = compiled("tiny", tmp_path, **{"data.mix_in": None})  # the train source alone; both benchmarks stay
    assert set(task_keys(spec)) & set(DATA_TASKS) == {"dataset: train", "dataset: vrt-bench", "dataset: reasonseg"}
    assert "mix_dataset" not in task_of(spec, "sft")["inputs"]["artifacts"]
    assert task_of(spec, "sft")["inputs"]["parameters"]["weights"]["runtimeValue"]["constant"] == [1.0]
    assert producer(spec, "register", "reasonseg_dataset") == "dataset: reasonseg"


@pytest.mark.parametrize(("preset", "overrides", "launcher"), [
    ("tiny", {}, "none"),  # the laptop preset trains in the step's own process
    ("tiny", {"runtime": "kubernetes"}, "ray"),  # a cluster always runs RayJobs
    ("4b", {"data.revision": SHA}, "ray"),
])
def test_training_steps_get_the_launcher(preset, overrides, launcher, tmp_path):
    spec, _ = compiled(preset, tmp_path, **overrides)
    for step in ("sft", "grpo"):
        assert task_of(spec, step)["inputs"]["parameters"]["launcher"] == {"runtimeValue": {"constant": launcher}}
