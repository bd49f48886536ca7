"""Dataset mixtures: exact per-source counts per epoch, exact resume, one source = the single-dataset plan,
the `datasets` syntax and its errors."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from components.grpo.config import load_grpo_config
from components.sft import ingest
from components.sft import mixture as mixture_module
from components.sft.config import load_train_config
from components.sft.ingest import MicroBatchSource, RowSource, StepPlan, micro_batch_loader, open_dataset
from components.sft.mixture import MixturePlan, MixtureRows, draws_per_epoch, parse_mixture
from tests.sft.canonical import write_dataset
from vrt.errors import UserError

# three sources: 20 rows (shards of 12 + 8), 10 rows, 7 rows; row groups of at most 5 rows
ROWS, GROUPS, SOURCES = (12, 8, 10, 7), ((5, 5, 2), (5, 3), (5, 5), (4, 3)), (2, 1, 1)


def _plan(weights, global_batch=6, workers=2, accum=2, loaders=1, seed=7) -> MixturePlan:
    return MixturePlan(ROWS, global_batch, workers, accum, seed, GROUPS, loaders, sources=SOURCES, weights=weights)


def _source(shard: int) -> int:
    return 0 if shard < 2 else shard - 1


def _epoch_rows(plan: StepPlan, epoch: int) -> list[tuple[int, int]]:
    steps = range(epoch * plan.steps_per_epoch, (epoch + 1) * plan.steps_per_epoch)
    return [ref for s in steps for ref in plan.global_batch_rows(s)]


@pytest.mark.parametrize("loaders", [1, 2])
def test_each_epoch_draws_each_source_per_its_weight_exactly(loaders: int) -> None:
    plan = _plan((1.0, 2.0, 0.5), loaders=loaders)
    assert plan.draws == (20, 20, 4) and plan.total_rows == 44 and plan.steps_per_epoch == 8
    per_row: Counter = Counter()
    for epoch in range(7):  # 7 epochs x 4 draws = 28 = 4 passes over the 7-row source
        rows = _epoch_rows(plan, epoch)
        assert Counter(_source(s) for s, _ in rows) == {0: 20, 1: 20, 2: 4}
        counts = Counter(rows)
        assert {counts[(s, r)] for s in (0, 1) for r in range(ROWS[s])} == {1}  # weight 1: each row once
        assert {counts[(2, r)] for r in range(10)} == {2}  # weight 2: each row twice
        per_row.update(rows)
    assert {per_row[(3, r)] for r in range(7)} == {4}  # weight 0.5: each row once every two epochs
    assert [sum(plan.source_counts(plan.global_batch_rows(s))) for s in range(8)] == [6] * 7 + [2]


def test_sources_are_interleaved_and_epochs_differ() -> None:
    plan = _plan((1.0, 1.0, 1.0))
    first = [_source(s) for s, _ in plan.global_batch_rows(0) + plan.global_batch_rows(1)]
    assert len(set(first)) > 1  # not one source after the other
    assert _epoch_rows(plan, 0) != _epoch_rows(plan, 1)
    assert _epoch_rows(plan, 0) != _epoch_rows(_plan((1.0, 1.0, 1.0), seed=8), 0)


def test_one_source_at_weight_one_is_the_single_dataset_plan() -> None:
    for rows, groups, batch, workers, accum, loaders in [((50, 50), (), 8, 2, 2, 1),
                                                          ((7, 3, 1), ((3, 3, 1), (3,), (1,)), 4, 2, 1, 2),
                                                          ((9, 4), ((4, 4, 1), (2, 2)), 16, 2, 4, 3)]:
        single = StepPlan(rows, batch, workers, accum, 3, groups, loaders)
        mixed = MixturePlan(rows, batch, workers, accum, 3, groups, loaders, sources=(len(rows),), weights=(1.0,))
        assert mixed.steps_per_epoch == single.steps_per_epoch
        for step in range(3 * single.steps_per_epoch):
            for rank in range(workers):
                assert mixed.micro_batches(step, rank) == single.micro_batches(step, rank)
                assert [mixed.filler(step, rank, m) for m in range(accum)] == [
                    single.filler(step, rank, m) for m in range(accum)]


def test_each_loader_reads_about_each_row_group_once_at_weight_one() -> None:
    """Two sources of 4 row groups of 16 rows, 2 workers x 2 loaders: each group read by one loader, or two
    at one of the 3 cuts of the stream (per source)."""
    plan = MixturePlan((64, 64), 8, 2, 2, 1, ((16,) * 4, (16,) * 4), 2, sources=(1, 1), weights=(1.0, 1.0))
    for epoch in (0, 1):
        readers: dict[tuple[int, int], set] = {}
        for within in range(plan.steps_per_epoch):
            for rank in range(2):
                for micro, refs in enumerate(plan.micro_batches(epoch * plan.steps_per_epoch + within, rank)):
                    for shard, row in refs:
                        readers.setdefault((shard, row // 16), set()).add((rank, (within * 2 + micro) % 2))
        assert len(readers) == 8
        assert sum(len(r) for r in readers.values()) <= 8 + 2 * 3


def test_resume_at_step_k_replays_the_uninterrupted_batches(tmp_path: Path) -> None:
    a = write_dataset(tmp_path / "a", n=7, seed=0, shards=2)
    b = write_dataset(tmp_path / "b", n=4, seed=1, shards=1)
    mixture = parse_mixture({str(a): 1, str(b): 1.5}, "sft.datasets")
    rows = MixtureRows.open(mixture, "sft.datasets")
    plan = MixturePlan.for_mixture(rows, 4, 2, 1, seed=2)
    assert plan.draws == (7, 6) and plan.steps_per_epoch == 4
    ids = lambda samples: [hashlib.sha256(r["image"]).hexdigest()[:12] for r in samples]  # ids repeat across a, b
    full = {rank: list(micro_batch_loader(MicroBatchSource(rows, plan, rank, 0, 8, ids), 0)) for rank in (0, 1)}
    for k in (1, 3, 5):
        for cache in (ingest._epoch_stream, ingest._layout, mixture_module._mixture_stream):
            cache.cache_clear()  # a new process: nothing remembered
        again = MixturePlan.for_mixture(MixtureRows.open(mixture, "sft.datasets"), 4, 2, 1, seed=2)
        for rank in (0, 1):
            resumed = list(micro_batch_loader(MicroBatchSource(rows, again, rank, k, 8, ids), 0))
            assert resumed == full[rank][k:]
    epoch = [ref for s in range(4) for ref in plan.global_batch_rows(s)]
    assert Counter(rows.source_of(s) for s, _ in epoch) == {0: 7, 1: 6}
    pick = [(RowSource(str(b), open_dataset(str(b))), (0, 1)), (RowSource(str(a), open_dataset(str(a))), (1, 0))]
    assert rows.rows([(2, 1), (1, 0)]) == [src.rows([ref])[0] for src, ref in pick]


def test_two_loader_processes_yield_the_in_thread_mixture(tmp_path: Path) -> None:
    a = write_dataset(tmp_path / "a", n=6, seed=0, shards=2)
    b = write_dataset(tmp_path / "b", n=5, seed=1, shards=1)
    rows = MixtureRows.open(parse_mixture([str(a), {"uri": str(b), "weight": 2}], "k"), "k")
    plan = MixturePlan.for_mixture(rows, 4, 2, 2, seed=5, loaders=2)
    source = MicroBatchSource(rows, plan, 1, 2, 6, lambda s: [r["id"] for r in s])
    assert list(micro_batch_loader(source, 2)) == list(micro_batch_loader(source, 0))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("s3://b/vrt", (("s3://b/vrt", 1.0),)),
     ({"s3://b/vrt": 3, "data/vgr": "0.5"}, (("s3://b/vrt", 3.0), ("data/vgr", 0.5))),
     ([{"uri": "a", "weight": 2}, "b", ["c", 0.25]], (("a", 2.0), ("b", 1.0), ("c", 0.25))),
     ([{"uri": "a"}], (("a", 1.0),))],
)
def test_mixture_syntax(value, expected) -> None:
    assert parse_mixture(value, "sft.datasets") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [("gs://b/vrt", r"sft.datasets: 'gs://b/vrt' has the unknown URI form gs://: give a local directory or s3://"),
     ({"hf://datasets/x": 1}, "unknown URI form hf://"),
     ({"a": 0}, r"sft.datasets.a=0 must be positive and finite: sft.datasets.a: set a positive finite number"),
     ({"a": -1.0}, "must be positive and finite"),
     ({"a": float("nan")}, "sft.datasets.a=nan must be positive and finite"),
     ({"a": float("inf")}, "must be positive and finite"),
     ({"a": "lots"}, r"sft.datasets.a='lots' is not a number"),
     ({"a": True}, "is not a weight"),
     ([{"uri": "a", "weight": 0}], r"sft.datasets\[0\].weight=0 must be positive"),
     ([{"url": "a"}], r"sft.datasets\[0\]=.*write each entry as \{uri: URI, weight: W\}"),
     ({}, "sft.datasets is empty: name at least one dataset"),
     ([], "sft.datasets is empty"),
     ("", "is not a dataset URI"),
     (["a", {"uri": "a", "weight": 2}], "lists a more than once"),
     (3, "give a URI, a mapping")],
)
def test_mixture_errors_say_what_to_set(value, message) -> None:
    with pytest.raises(UserError, match=message):
        parse_mixture(value, "sft.datasets")


def test_configs_take_a_mixture_or_a_single_dataset() -> None:
    sft = load_train_config("tiny", ["sft.datasets={s3://b/vrt: 3, s3://b/vgr: 1}"]).sft
    assert sft.mixture == (("s3://b/vrt", 3.0), ("s3://b/vgr", 1.0))
    assert load_train_config("tiny", ["sft.dataset=d"]).sft.mixture == (("d", 1.0),)
    assert load_train_config("tiny", ["sft.datasets=d"]).sft.mixture == (("d", 1.0),)
    assert load_train_config("tiny").sft.mixture == ()
    grpo = load_grpo_config("tiny", ["datasets=[{uri: a, weight: 2}, b]"]).grpo
    assert grpo.mixture == (("a", 2.0), ("b", 1.0))
    assert load_grpo_config("tiny", ["grpo.dataset=d"]).grpo.mixture == (("d", 1.0),)
    with pytest.raises(UserError, match="sft.dataset and sft.datasets are both set: set one"):
        load_train_config("tiny", ["sft.dataset=a", "sft.datasets={b: 1}"])
    with pytest.raises(UserError, match="grpo.dataset and grpo.datasets are both set"):
        load_grpo_config("tiny", ["grpo.dataset=a", "grpo.datasets=b"])
    with pytest.raises(UserError, match=r"grpo.datasets.b=-2 must be positive"):
        load_grpo_config("tiny", ["grpo.datasets={b: -2}"])
    with pytest.raises(UserError, match="sft.datasets is empty"):
        load_train_config("tiny", ["sft.datasets={}"])


def test_an_empty_or_missing_source_names_the_key_and_source(tmp_path: Path) -> None:
    from vrt.data.manifest import Manifest, write_manifest

    good = write_dataset(tmp_path / "good", n=2, seed=0, shards=1)
    write_manifest(str(tmp_path / "empty"), Manifest("vgr", "x", {"input": 0, "written": 0, "quarantined": 0},
                                                     {}, []))
    mixture = parse_mixture({str(good): 1, str(tmp_path / "empty"): 1}, "sft.datasets")
    with pytest.raises(UserError, match=rf"sft.datasets: source {tmp_path}/empty: .*lists no rows"):
        MixtureRows.open(mixture, "sft.datasets")
    with pytest.raises(UserError, match=rf"sft.datasets: source {tmp_path}/none: .*is not a published dataset"):
        MixtureRows.open(parse_mixture([str(tmp_path / "none")], "sft.datasets"), "sft.datasets")
    from components.sft.launch import check_sources

    with pytest.raises(UserError, match=r"sft.dataset is empty: set sft.dataset=.* or sft.datasets=\{URI: weight"):
        check_sources(load_train_config("tiny").sft, "sft")
    with pytest.raises(UserError, match=rf"^grpo.datasets: source {tmp_path}/empty: "):
        check_sources(load_grpo_config("tiny", [f"grpo.datasets=[{good}, {tmp_path}/empty]"]).grpo, "grpo")
    with pytest.raises(UserError, match=rf"^sft.dataset: source {tmp_path}/empty: "):
        check_sources(load_train_config("tiny", [f"sft.dataset={tmp_path}/empty"]).sft, "sft")


def test_draws_round_half_up_and_keep_every_source() -> None:
    assert draws_per_epoch((10, 7, 3, 1000), (0.25, 0.5, 0.1, 1e-6)) == (3, 4, 1, 1)


def test_every_source_is_an_mlflow_input_with_its_weight(tmp_path: Path, monkeypatch) -> None:
    import mlflow

    from components.sft.launch import log_datasets

    a = write_dataset(tmp_path / "a", n=2, seed=0, shards=1)
    b = write_dataset(tmp_path / "b", n=2, seed=1, shards=1)
    c = write_dataset(tmp_path / "c", n=2, seed=2, shards=1)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run() as run:
        log_datasets(parse_mixture({str(a): 3, str(b): 0.5}, "sft.datasets"), str(c))
    inputs = mlflow.get_run(run.info.run_id).inputs.dataset_inputs
    seen = [(i.dataset.digest, {t.key: t.value for t in i.tags}) for i in inputs]
    sha = {p: open_dataset(str(p)).sha256[:16] for p in (a, b, c)}
    assert sorted(seen, key=str) == sorted([
        (sha[a], {"mlflow.data.context": "training", "weight": "3"}),
        (sha[b], {"mlflow.data.context": "training", "weight": "0.5"}),
        (sha[c], {"mlflow.data.context": "evaluation"})], key=str)


def test_step_source_counts_are_the_workers_rows_of_each_source() -> None:
    from components.sft.mixture import step_source_counts

    plan = _plan((1.0, 2.0, 0.5))
    for step in (0, 7, 9):
        per_rank = [step_source_counts(plan, step, rank) for rank in range(2)]  # one process: no reduction
        assert [a + b for a, b in zip(*per_rank, strict=True)] == plan.source_counts(plan.global_batch_rows(step))
    assert [sum(sum(step_source_counts(plan, s, r)) for r in range(2)) for s in range(8)] == [6.0] * 7 + [2.0]


def test_an_epoch_reads_each_source_about_weight_times_from_s3(tmp_path: Path) -> None:
    """Sources of 128 rows (weight 1) and 64 rows (weight 2), row groups of 8, 2 ranks x 2 loader processes:
    one epoch reads about 1x the first source's bytes and 2x the second's."""
    import boto3

    from tests.sft.counting_s3 import CountingS3
    from tests.sft.test_ingest import _noisy_dataset
    from vrt import storage

    _noisy_dataset(tmp_path / "a", n=128, shards=2, row_group_size=8)
    _noisy_dataset(tmp_path / "b", n=64, shards=1, row_group_size=8)
    with CountingS3() as s3:
        boto3.client("s3").create_bucket(Bucket="mix")
        for name in ("a", "b"):
            storage.upload_dir(tmp_path / name, f"s3://mix/{name}")
        mixture = parse_mixture({"s3://mix/a": 1, "s3://mix/b": 2}, "sft.datasets")
        sizes = [sum(s.bytes for s in open_dataset(uri).shards) for uri, _ in mixture]
        s3.reset()
        real = 0
        for rank in (0, 1):
            rows = MixtureRows.open(mixture, "sft.datasets")
            plan = MixturePlan.for_mixture(rows, 16, 2, 2, seed=0, loaders=2)
            assert plan.draws == (128, 128) and plan.steps_per_epoch == 16
            source = MicroBatchSource(rows, plan, rank, 0, plan.steps_per_epoch, lambda s: [r["id"] for r in s])
            real += sum(n for _, n in micro_batch_loader(source, loader_workers=2))
        assert real == 256
        read = [sum(v for k, v in s3.key_bytes.items() if k.startswith(f"/mix/{name}/")) for name in ("a", "b")]
        ratios = [r / size for r, size in zip(read, sizes, strict=True)]
        print(f"bytes read / source bytes: a (weight 1) {ratios[0]:.3f}, b (weight 2) {ratios[1]:.3f}")
        assert ratios[0] <= 1.2 and 1.9 <= ratios[1] <= 2.4, ratios
