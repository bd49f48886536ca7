"""GRPO without Ray (`launcher none`): the same recipe in this process gives the same rewards, loss and
weights as one Ray Train worker (fixed seed, DeepSpeed ZeRO-2, HF rollouts)."""

from __future__ import annotations

import pytest

from tests.grpo.policy_fixture import format_tuned_model
from tests.sft.canonical import write_dataset

pytestmark = pytest.mark.slow
KEYS = ("reward/total/mean", "policy_loss", "response_length")
TOLERANCE = 1e-6  # one worker each: the same arithmetic


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from vrt.data.reader import read_table

    root = tmp_path_factory.mktemp("grpo-launcher")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    mp.setenv("VRT_EXPERIMENT", "grpo-launcher-tests")
    mp.delenv("VRT_PARENT_RUN_ID", raising=False)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        mp.delenv(key, raising=False)
    data = write_dataset(root / "train", n=2, seed=0, shards=1)
    rows = read_table(str(data))[1].to_pylist()
    init = format_tuned_model(rows[:1], root / "sft_model")
    yield {"root": root, "data": str(data), "init": str(init)}
    mp.undo()


def _train(env, run_name: str, launcher: str):
    from components.grpo.config import load_grpo_config
    from components.grpo.launch import run_local

    overrides = [f"init_from={env['init']}", f"grpo.dataset={env['data']}", f"grpo.output={env['root'] / 'out'}",
                 f"grpo.run_name={run_name}", "grpo.max_steps=2", "grpo.checkpoint_every=1", "grpo.num_workers=1",
                 "grpo.prompts_per_step=1", "grpo.group_size=4", "grpo.max_new_tokens=40", "grpo.lr=1e-3",
                 "grpo.temperature=1.2",  # the fixture policy mixes well- and badly-formed traces at 1.2
                 "grpo.cpus_per_worker=1", "grpo.rewards={vrt_format: 1.0, vrt_answer_iou: 1.0, no_repeat: 0.2}"]
    return run_local(load_grpo_config("tiny", overrides), launcher=launcher)


def _history(run_name: str, key: str) -> list[tuple[int, float]]:
    from mlflow import MlflowClient

    from vrt.tracking import configure

    client = MlflowClient()
    (run,) = client.search_runs([configure()], f"tags.`vrt.run_dir` LIKE '%/{run_name}'")
    return [(m.step, m.value) for m in sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)]


def test_no_ray_grpo_matches_ray(env) -> None:
    import ray
    from safetensors.torch import load_file

    plain = _train(env, "plain", "none")
    assert not ray.is_initialized()
    ray.init(num_cpus=2, include_dashboard=False)
    try:
        viaray = _train(env, "viaray", "ray")
    finally:
        ray.shutdown()
    assert plain.step == viaray.step == 2
    assert sorted(p.name for p in (env["root"] / "out" / "plain").glob("step_*")) == ["step_0000001", "step_0000002"]
    for key in KEYS:
        ours, theirs = _history("plain", key), _history("viaray", key)
        assert [s for s, _ in ours] == [s for s, _ in theirs] == [1, 2], key
        assert all(abs(a - b) <= TOLERANCE * max(1.0, abs(b)) for (_, a), (_, b) in zip(ours, theirs, strict=True)), key
    a = load_file(f"{plain.uri}/model.safetensors")
    b = load_file(f"{viaray.uri}/model.safetensors")
    assert a.keys() == b.keys() and all(a[k].allclose(b[k], atol=1e-6) for k in a)
    # a learning signal existed (the policy loss's value is 0 at ratio 1 under the per-sequence reduction)
    assert min(v for _, v in _history("plain", "zero_adv_group_fraction")) < 1.0
    before = load_file(f"{env['init']}/model.safetensors")
    assert any(not before[k].equal(a[k]) for k in a)  # the policy moved
