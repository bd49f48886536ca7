"""GRPO on Ray Train: 2 CPU workers x DeepSpeed ZeRO-2, the HF rollout engine, a real MLflow (SQLite) run;
2 steps with the auxiliary mask loss change the language model and the [SEG] projection (and nothing
of the frozen SAM 2); resuming from step 1 reproduces step 2."""

from __future__ import annotations

import json

import pytest

from tests.grpo.policy_fixture import format_tuned_model
from tests.sft.canonical import write_dataset

pytestmark = pytest.mark.slow
REWARDS = ("vrt_format", "vrt_answer_iou", "no_repeat")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Ray (2 CPUs), 4 prompts, an MLflow SQLite store and a format-tuned tiny model as the SFT model."""
    import ray

    from vrt.data.reader import read_table

    root = tmp_path_factory.mktemp("grpo")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    mp.setenv("VRT_EXPERIMENT", "grpo-tests")
    mp.delenv("VRT_PARENT_RUN_ID", raising=False)
    data = write_dataset(root / "train", n=4, seed=0, shards=1)
    rows = read_table(str(data))[1].to_pylist()
    init = format_tuned_model(rows[:1], root / "sft_model")
    ray.init(num_cpus=2, include_dashboard=False)
    yield {"root": root, "data": str(data), "init": str(init)}
    ray.shutdown()
    mp.undo()


def _train(env, run_name: str, *extra: str):
    from components.grpo.config import load_grpo_config
    from components.grpo.launch import run_local

    overrides = [
        f"init_from={env['init']}",
        f"grpo.dataset={env['data']}",
        f"grpo.output={env['root'] / 'out'}",
        f"grpo.run_name={run_name}",
        "grpo.max_steps=2",
        "grpo.checkpoint_every=1",
        "grpo.num_workers=2",
        "grpo.prompts_per_step=1",
        "grpo.group_size=4",
        "grpo.max_new_tokens=40",
        "grpo.lr=1e-3",
        "grpo.temperature=1.2",  # the fixture policy is tuned to mix well- and badly-formed traces at 1.2
        "grpo.keep_checkpoints=3",
        "grpo.rewards={vrt_format: 1.0, vrt_answer_iou: 1.0, no_repeat: 0.2}",
        "grpo.track_kl=true",
        "grpo.mask_loss=true",
        *extra,
    ]
    return run_local(load_grpo_config("tiny", overrides))


def _history(run_name: str, key: str) -> list[tuple[int, float]]:
    from mlflow import MlflowClient

    from vrt.tracking import configure

    client = MlflowClient()
    (run,) = client.search_runs([configure()], f"tags.`vrt.run_dir` LIKE '%/{run_name}'")
    return [
        (m.step, m.value)
        for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
    ]


def _weights(directory) -> dict:
    from safetensors.torch import load_file

    return load_file(str(directory / "model.safetensors"))


@pytest.fixture(scope="module")
def baseline(env):
    return _train(env, "base")


def test_two_steps_change_the_policy_and_log_every_reward(env, baseline) -> None:
    from pathlib import Path

    out = env["root"] / "out" / "base"
    assert sorted(p.name for p in out.glob("step_*")) == ["step_0000001", "step_0000002"]
    state = json.loads((out / "step_0000002" / "state.json").read_text())
    assert (state["step"], state["world"], state["group_size"]) == (2, 2, 4)
    assert baseline.step == 2 and baseline.lineage["method"] == "grpo"
    before, after = _weights(Path(env["init"])), _weights(Path(baseline.uri))
    changed = {k for k in before if not before[k].equal(after[k])}
    assert any(k.startswith("vlm.model.language_model.") for k in changed)
    assert any(k.startswith("seg_projection.") for k in changed)  # trained by the mask loss
    assert not any(k.startswith("sam.") for k in changed)  # frozen in GRPO
    keys = [f"reward/{n}/{s}" for n in (*REWARDS, "total") for s in ("mean", "std")]
    keys += [
        "kl",
        "clip_fraction",
        "policy_loss",
        "mask_loss",
        "response_length",
        "rollout_tokens_per_s",
        "step_time_s",
        "time/generate_s",
        "time/reward_s",
        "time/update_s",
        "zero_adv_group_fraction",
        "lr",
    ]
    for key in keys:
        assert [s for s, _ in _history("base", key)] == [1, 2], key
    kl = [v for _, v in _history("base", "kl")]  # track_kl: KL to the SFT model, not in the loss (kl_coef 0)
    assert kl[0] == 0.0 and kl[1] > 0.0  # step 1 samples the reference itself; step 2 the updated policy
    assert baseline.metrics["last_step_reward_total_mean"] == _history("base", "reward/total/mean")[-1][1]
    assert all(0 < v <= 40 for _, v in _history("base", "response_length"))
    assert _history("base", "samples/vrt-80k") == [(1, 2.0), (2, 2.0)]  # prompts of the (one) source per step
    assert max(v for _, v in _history("base", "mask_loss")) > 0.0
    assert min(v for _, v in _history("base", "zero_adv_group_fraction")) < 1.0  # a learning signal existed


def test_resume_from_step_one_reproduces_step_two(env, baseline) -> None:
    from pathlib import Path

    ckpt = env["root"] / "out" / "base" / "step_0000001"
    resumed = _train(env, "resumed", f"grpo.resume_from={ckpt}")
    assert resumed.step == 2 and resumed.lineage["resumed_from"] == str(ckpt)
    assert [s for s, _ in _history("resumed", "reward/total/mean")] == [2]
    assert _history("resumed", "reward/total/mean") == _history("base", "reward/total/mean")[1:]
    base, again = _weights(Path(baseline.uri)), _weights(Path(resumed.uri))
    assert all(base[k].allclose(again[k], atol=1e-6) for k in base)


def test_high_variance_selection_feeds_training(env) -> None:
    from components.grpo.config import load_grpo_config
    from components.grpo.selection import select_prompts
    from vrt.data.manifest import read_manifest
    from vrt.data.reader import read_table

    model = _train(
        env, "selected", "grpo.select_high_variance=2", "grpo.selection_samples=4", "grpo.max_steps=1"
    )
    selected = model.lineage["dataset"]
    assert selected == str(env["root"] / "out" / "selected" / "selected_prompts")
    manifest = read_manifest(selected)
    assert manifest.counts == {"input": 2, "written": 2, "quarantined": 0}
    extra = manifest.extra
    assert (extra["candidates"], extra["kept"], extra["selection_samples"]) == (4, 2, 4)
    assert extra["min_kept_variance"] >= extra["max_dropped_variance"]
    all_ids = read_table(env["data"])[1].column("id").to_pylist()
    kept = read_table(selected)[1].column("id").to_pylist()
    assert len(kept) == 2 and [i for i in all_ids if i in kept] == kept  # dataset order
    g = load_grpo_config("tiny", ["grpo.select_high_variance=2"]).grpo
    assert select_prompts(env["data"], env["init"], g, selected) == selected  # published: reused, not redone
