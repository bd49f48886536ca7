"""SFT on Ray Train: 2 CPU workers x DeepSpeed ZeRO-2 logging to a real MLflow (SQLite) run;
resume from step k; a worker killed mid-run recovered through FailureConfig."""

from __future__ import annotations

import json

import pytest

from tests.sft.canonical import write_dataset

pytestmark = pytest.mark.slow
STEPS, EVERY = 4, 2


@pytest.fixture(scope="module")
def env(tmp_path_factory, s3_endpoint):
    """Ray (2 CPUs) once for the module (after the S3 server, so workers inherit its AWS_* settings),
    a dataset, an MLflow SQLite store."""
    import ray

    root = tmp_path_factory.mktemp("sft")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    mp.setenv("VRT_EXPERIMENT", "sft-tests")
    mp.delenv("VRT_PARENT_RUN_ID", raising=False)
    ray.init(num_cpus=2, include_dashboard=False)
    data = write_dataset(root / "train", n=16, seed=0, shards=2)
    evald = write_dataset(root / "eval", n=4, seed=1, shards=1)
    yield {"root": root, "data": str(data), "eval": str(evald)}
    ray.shutdown()
    mp.undo()


def _train(env, run_name: str, *extra: str):
    from components.sft.config import load_train_config
    from components.sft.launch import run_local

    overrides = [f"sft.dataset={env['data']}", f"sft.eval_dataset={env['eval']}", f"sft.output={env['root'] / 'out'}",
                 f"sft.run_name={run_name}", f"sft.max_steps={STEPS}", f"sft.checkpoint_every={EVERY}",
                 "sft.global_batch_size=4", "sft.micro_batch_size=1", "sft.eval_samples=4", "sft.keep_checkpoints=3",
                 "sft.strategy=deepspeed", "sft.num_workers=2",
                 *extra]
    return run_local(load_train_config("tiny", overrides))


def _history(run_name: str, key: str) -> list[tuple[int, float]]:
    from mlflow import MlflowClient

    from vrt.tracking import configure

    experiment = configure()
    client = MlflowClient()
    (run,) = client.search_runs([experiment], f"tags.`vrt.run_dir` LIKE '%/{run_name}'")
    return [(m.step, m.value) for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]


@pytest.fixture(scope="module")
def baseline(env):
    return _train(env, "base")


def test_zero2_run_logs_metrics_checkpoints_and_model(env, baseline) -> None:
    from mlflow import MlflowClient

    out = env["root"] / "out" / "base"
    assert sorted(p.name for p in out.glob("step_*")) == ["step_0000002", "step_0000004"]
    state = json.loads((out / "step_0000004" / "state.json").read_text())
    assert (state["step"], state["world"], state["strategy"]) == (4, 2, "deepspeed")
    assert sorted(p.name for p in (out / "step_0000004" / "ds").iterdir()) == [
        "mp_rank_00_model_states.pt", "zero_pp_rank_0_mp_rank_00_optim_states.pt",
        "zero_pp_rank_1_mp_rank_00_optim_states.pt"]
    assert [s for s, _ in _history("base", "loss")] == [1, 2, 3, 4]
    for key in ("loss_ce", "loss_mask_bce", "loss_mask_dice", "mask_iou", "lr", "grad_norm", "tokens_per_s",
                "samples_per_s"):
        assert len(_history("base", key)) == STEPS, key
    assert [s for s, _ in _history("base", "eval_mask_iou")] == [0, 4]
    assert all(v == 4.0 for _, v in _history("base", "samples"))
    client = MlflowClient()
    run = client.get_run(client.search_runs([client.get_experiment_by_name("sft-tests").experiment_id],
                                            "tags.`vrt.run_dir` LIKE '%/base'")[0].info.run_id)
    assert run.data.params["sft.zero_stage"] == "2" and run.data.params["model"] == "tiny"
    assert any(k.startswith("system/") for k in run.data.metrics)
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == ["vrt-80k@synthetic", "vrt-80k@synthetic"]
    # weights are not copied into the run: it keeps the pointer (the register step logs the one MLflow copy)
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["model_manifest.json"]
    assert run.data.tags["vrt.model_uri"] == str(out / "model")
    assert (baseline.step, baseline.preset, baseline.uri) == (4, "tiny", str(out / "model"))
    assert json.loads((out / "model_manifest.json").read_text())["sha256"] == baseline.sha256


def test_exported_model_loads(baseline) -> None:
    from models import RSa2VA

    model = RSa2VA.from_pretrained(baseline.uri)
    assert sum(p.numel() for p in model.parameters()) > 1_000_000


def test_resume_continues_from_step_k_with_identical_loss(env, baseline) -> None:
    resume = env["root"] / "out" / "base" / "step_0000002"
    manifest = _train(env, "resumed", f"sft.resume_from={resume}")
    assert manifest.step == STEPS and manifest.lineage["resumed_from"] == str(resume)
    resumed, base = _history("resumed", "loss"), _history("base", "loss")
    assert [s for s, _ in resumed] == [3, 4]
    assert resumed == base[2:]


def test_lost_worker_is_recovered_by_failure_config(env, baseline) -> None:
    manifest = _train(env, "faulty", "sft.fault_at_step=3", "sft.max_failures=1")
    assert (env["root"] / "out" / "faulty" / "fault_injected").read_text() == "worker 1 killed at step 3\n"
    assert manifest.step == STEPS
    history = _history("faulty", "loss")
    assert [s for s, _ in history] == [1, 2, 3, 3, 4]  # step 3 ran twice: before the fault and after the restart
    assert history[2][1] == history[3][1] == dict(_history("base", "loss"))[3]
    assert history[4][1] == dict(_history("base", "loss"))[4]


def test_checkpoints_and_model_go_to_s3(env, s3_bucket) -> None:
    from components.sft.checkpoint import find_latest
    from vrt import storage

    storage.upload_dir(env["data"], f"{s3_bucket}/data")
    manifest = _train(env, "s3run", f"sft.dataset={s3_bucket}/data", f"sft.output={s3_bucket}/sft", "sft.eval_dataset=",
                      "sft.max_steps=2", "sft.checkpoint_every=1")
    assert (manifest.uri, manifest.step) == (f"{s3_bucket}/sft/s3run/model", 2)
    names = storage.list_names(f"{s3_bucket}/sft/s3run")
    for name in ("step_0000001/state.json", "step_0000002/ds/zero_pp_rank_1_mp_rank_00_optim_states.pt",
                 "step_0000002/rng_rank1.safetensors", "model/model.safetensors", "model_manifest.json"):
        assert name in names, name
    assert find_latest(f"{s3_bucket}/sft") == f"{s3_bucket}/sft/s3run/step_0000002"


def test_mixture_logs_samples_and_losses_per_source_and_every_source(env) -> None:
    from mlflow import MlflowClient

    from components.sft.mixture import MixturePlan, MixtureRows, parse_mixture
    from vrt.data.prepare import PrepareConfig, prepare
    from vrt.data.synth import synthesize

    synthesize(env["root"] / "raw", 8, 1, 0, 128)  # 4 VGR records: boxes, no masks
    vgr = str(env["root"] / "vgr")
    prepare(PrepareConfig("vgr", str(env["root"] / "raw" / "vgr"), vgr))
    mixture = parse_mixture({env["data"]: 1, vgr: 2}, "sft.datasets")
    manifest = _train(env, "mix", "sft.dataset=", f"sft.datasets={{{env['data']}: 1, {vgr}: 2}}")
    rows = MixtureRows.open(mixture, "sft.datasets")
    plan = MixturePlan.for_mixture(rows, 4, 2, 2, seed=0, loaders=1)
    expected = [plan.source_counts(plan.global_batch_rows(s)) for s in range(STEPS)]
    logged = [[v for _, v in _history("mix", f"samples/{name}")] for name in ("vrt-80k", "vgr")]
    assert [list(c) for c in zip(*logged, strict=True)] == [[float(n) for n in c] for c in expected]
    assert sum(sum(c) for c in expected) == 4 * STEPS and all(sum(c) > 0 for c in zip(*expected, strict=True))
    # each source's loss terms at the steps that drew it: VRT rows train masks, VGR rows boxes (never masks)
    drew = {name: [s + 1 for s in range(STEPS) if expected[s][i]] for i, name in enumerate(("vrt-80k", "vgr"))}
    for key, name in (("loss_ce", "vrt-80k"), ("loss_mask_dice", "vrt-80k"), ("mask_iou", "vrt-80k"),
                      ("loss_ce", "vgr"), ("loss_mask_box", "vgr")):
        history = _history("mix", f"{key}/{name}")
        assert [s for s, _ in history] == drew[name] and all(v >= 0 for _, v in history), (key, name)
    assert _history("mix", "loss_mask_dice/vgr") == [] and _history("mix", "loss_mask_box/vrt-80k") == []
    assert manifest.lineage["dataset"] == f"{env['data']}*1 + {vgr}*2"
    assert manifest.lineage["dataset_sha256"] == rows.digest != rows.sources[0].manifest.sha256
    client = MlflowClient()
    (run,) = client.search_runs([client.get_experiment_by_name("sft-tests").experiment_id],
                                "tags.`vrt.run_dir` LIKE '%/mix'")
    inputs = sorted((i.dataset.name, i.dataset.digest, {t.key: t.value for t in i.tags}.get("weight"))
                    for i in run.inputs.dataset_inputs)
    want = [(f"{s.manifest.source}@{s.manifest.revision}", s.manifest.sha256[:16], w)
            for s, w in zip(rows.sources, ("1", "2"), strict=True)]
    assert [i for i in inputs if i[2] is not None] == sorted(want)  # the eval set is a third input, unweighted
