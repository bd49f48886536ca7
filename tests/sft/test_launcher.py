"""The no-Ray launcher (`launcher none`): the same SFT recipe and DeepSpeed engine in this process give
the same losses as one Ray Train worker; checkpoints, pruning, export and the launcher's errors."""

from __future__ import annotations

import json

import pytest

from tests.sft.canonical import write_dataset

STEPS = 3
# one worker each, same seed and data: the same arithmetic on the same thread count
LOSS_TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("launcher")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    mp.setenv("VRT_EXPERIMENT", "launcher-tests")
    mp.delenv("VRT_PARENT_RUN_ID", raising=False)
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        mp.delenv(key, raising=False)
    data = write_dataset(root / "train", n=8, seed=0, shards=1)
    yield {"root": root, "data": str(data)}
    mp.undo()


def _config(env, run_name: str, *extra: str):
    from components.sft.config import load_train_config

    return load_train_config("tiny", [
        f"sft.dataset={env['data']}", f"sft.output={env['root'] / 'out'}", f"sft.run_name={run_name}",
        f"sft.max_steps={STEPS}", "sft.checkpoint_every=1", "sft.keep_checkpoints=2", "sft.num_workers=1",
        "sft.global_batch_size=2", "sft.micro_batch_size=1", "sft.strategy=deepspeed", "sft.zero_stage=2",
        "sft.loader_workers=0", "sft.cpus_per_worker=1", *extra])


def _losses(run_name: str) -> list[tuple[int, float]]:
    from mlflow import MlflowClient

    from vrt.tracking import configure

    client = MlflowClient()
    (run,) = client.search_runs([configure()], f"tags.`vrt.run_dir` LIKE '%/{run_name}'")
    return [(m.step, m.value) for m in sorted(client.get_metric_history(run.info.run_id, "loss"), key=lambda m: m.step)]


@pytest.fixture(scope="module")
def plain(env):
    """A run with launcher none (no Ray anywhere in this process)."""
    from components.sft.launch import run_local

    return run_local(_config(env, "plain"), launcher="none")


@pytest.mark.slow
def test_no_ray_path_writes_checkpoints_and_model(env, plain) -> None:
    import os

    import ray

    assert "WORLD_SIZE" not in os.environ and not ray.is_initialized()  # no Ray, environment restored
    out = env["root"] / "out" / "plain"
    assert sorted(p.name for p in out.glob("step_*")) == ["step_0000002", "step_0000003"]  # keep 2
    state = json.loads((out / "step_0000003" / "state.json").read_text())
    assert (state["step"], state["world"]) == (3, 1)
    assert (plain.step, plain.uri) == (STEPS, str(out / "model"))
    assert (out / "model" / "model.safetensors").is_file()


@pytest.mark.slow
def test_no_ray_path_matches_ray_loss(env, plain) -> None:
    import ray

    from components.sft.launch import run_local

    ray.init(num_cpus=2, include_dashboard=False)
    try:
        run_local(_config(env, "viaray"))
    finally:
        ray.shutdown()
    ours, theirs = _losses("plain"), _losses("viaray")
    assert [s for s, _ in ours] == [s for s, _ in theirs] == [1, 2, 3]
    assert all(abs(a - b) <= LOSS_TOLERANCE * max(1.0, abs(b)) for (_, a), (_, b) in zip(ours, theirs, strict=True))
    assert len({round(v, 6) for _, v in ours}) == STEPS  # the model trained: every step's loss differs


@pytest.mark.slow
def test_no_ray_run_resumes_from_its_own_checkpoint(env, plain) -> None:
    from components.sft.launch import run_local

    resume = env["root"] / "out" / "plain" / "step_0000002"
    manifest = run_local(_config(env, "again", f"sft.resume_from={resume}"), launcher="none")
    assert manifest.step == STEPS and manifest.lineage["resumed_from"] == str(resume)
    assert _losses("again") == _losses("plain")[2:]


@pytest.mark.parametrize(
    ("launcher", "env_vars", "run_name", "message"),
    [
        ("mpi", {}, "r", "unknown launcher 'mpi': use ray or none"),
        ("none", {"WORLD_SIZE": "2", "RANK": "1"}, "", "set sft.run_name=<name> so every rank"),
    ],
)
def test_launcher_errors(monkeypatch, launcher, env_vars, run_name, message) -> None:
    from components.sft.launch import check_launcher
    from vrt.errors import UserError

    for key, value in env_vars.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("[", r"\[")):
        check_launcher(launcher, run_name, "sft")


def test_torchrun_ranks_other_than_zero_are_secondary(monkeypatch) -> None:
    from components.sft.launch import check_launcher

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert check_launcher("none", "run", "sft") is True
    monkeypatch.setenv("RANK", "0")
    assert check_launcher("none", "run", "sft") is False
    assert check_launcher("ray", "", "sft") is False


def test_world_size_must_match_num_workers(monkeypatch) -> None:
    from components.sft.worker import ProcessWorker
    from vrt.errors import UserError

    for key, value in {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(UserError, match=r"runs 1 process\(es\) \(WORLD_SIZE\) but the config asks for num_workers=2"):
        ProcessWorker(use_gpu=False, keep=2, expected_world=2)


def test_kubernetes_runtime_refuses_launcher_none() -> None:
    from components.sft.config import load_train_config
    from components.sft.launch import run_sft
    from vrt.errors import UserError

    with pytest.raises(UserError, match="launcher 'none' is for runtime local"):
        run_sft(load_train_config("tiny", []), runtime="kubernetes", launcher="none")


@pytest.mark.parametrize("command", ["sft", "grpo"])
def test_cli_unknown_launcher_is_one_line(capsys, command) -> None:
    from vrt.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["train", command, "--config", "tiny", "--launcher", "mpi"])
    err = " ".join(capsys.readouterr().err.split())
    assert e.value.code == 2 and "unknown launcher 'mpi': use ray or none" in err and "Traceback" not in err
