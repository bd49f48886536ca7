"""`vrt train sft` and the `sft` KFP step's argument handling (no training: bad input stops first)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vrt.cli.main import main


def _run(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr().err


def test_help_shows_an_example(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    main(["train", "sft", "--help"])
    assert "vrt train sft --config pipelines/presets/tiny.yaml sft.dataset=" in capsys.readouterr().out


def test_unknown_key_is_one_line_with_close_matches(capsys) -> None:
    code, err = _run(["train", "sft", "--config", "pipelines/presets/tiny.yaml", "sft.warmup_ration=0.1"], capsys)
    assert code == 2
    assert "unknown config key sft.warmup_ration (did you mean sft.warmup_ratio?)" in " ".join(err.split())


def test_missing_dataset_names_the_manifest(tmp_path: Path, capsys) -> None:
    code, err = _run(["train", "sft", "--config", "tiny", f"sft.dataset={tmp_path}"], capsys)
    assert code == 2
    assert f"{tmp_path}/manifest.json not found" in " ".join(err.split())


def test_empty_dataset_setting_says_what_to_set(capsys) -> None:
    code, err = _run(["train", "sft", "--config", "tiny"], capsys)
    assert code == 2 and "sft.dataset is empty: set sft.dataset=" in err


def test_unknown_runtime(tmp_path: Path, capsys) -> None:
    code, err = _run(["train", "sft", "--config", "tiny", "--runtime", "slurm"], capsys)
    assert code == 2 and "unknown runtime 'slurm': use local or kubernetes" in err


def test_step_rejects_a_bad_dataset_artifact(tmp_path: Path) -> None:
    from components.sft.step import dataset_uri
    from vrt.errors import UserError

    good = tmp_path / "d.json"
    good.write_text(json.dumps({"uri": "s3://b/data", "format": "vrt-canonical-parquet"}))
    assert dataset_uri(str(good)) == "s3://b/data"
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(UserError, match="is not a dataset pointer with a 'uri'"):
        dataset_uri(str(bad))


def test_pipeline_datasets_replace_a_presets_own_dataset_settings(tmp_path: Path) -> None:
    """The step wires its artifacts as `X.datasets` (emptying `X.dataset`): a preset that names its own
    sources (for `vrt train`) no longer clashes with what the pipeline passes ("both set")."""
    from components.grpo.config import load_grpo_config
    from components.sft.config import load_train_config
    from components.sft.step import mixture_overrides
    from vrt.errors import UserError

    for name, uri in (("vrt", "s3://b/vrt-80k"), ("vgr", "s3://b/vgr")):
        (tmp_path / f"{name}.json").write_text(json.dumps({"uri": uri}))
    paths = [str(tmp_path / "vrt.json"), str(tmp_path / "vgr.json")]
    wired = mixture_overrides("sft", paths, [1.0, 0.5])
    assert wired == ["sft.dataset=", ('sft.datasets=[{"uri": "s3://b/vrt-80k", "weight": 1.0}, '
                                      '{"uri": "s3://b/vgr", "weight": 0.5}]')]
    preset_sets_both = ["sft.datasets={s3://b/x: 2}", "sft.dataset=s3://b/y"]
    cfg = load_train_config("tiny", [*preset_sets_both, *wired]).sft
    assert cfg.mixture == (("s3://b/vrt-80k", 1.0), ("s3://b/vgr", 0.5))
    grpo = load_grpo_config("tiny", ["grpo.dataset=s3://b/y", *mixture_overrides("grpo", paths[:1], [])]).grpo
    assert grpo.mixture == (("s3://b/vrt-80k", 1.0),)
    with pytest.raises(UserError, match="^1 weights for 2 datasets: give one weight per dataset"):
        mixture_overrides("sft", paths, [1.0])


def test_component_compiles_with_the_train_image(tmp_path: Path) -> None:
    import yaml
    from kfp import compiler, dsl

    from components.images import TRAIN_IMAGE
    from components.sft.component import sft

    @dsl.pipeline(name="sft-only")
    def pipe():
        dataset = dsl.importer(artifact_uri="s3://b/data", artifact_class=dsl.Dataset).output
        sft(config="tiny", overrides=["sft.max_steps=2"], dataset=dataset)

    compiler.Compiler().compile(pipe, str(tmp_path / "p.yaml"))
    spec = yaml.safe_load((tmp_path / "p.yaml").read_text())
    (executor,) = [e for name, e in spec["deploymentSpec"]["executors"].items() if "sft" in name]
    assert executor["container"]["image"] == TRAIN_IMAGE
    inputs = spec["components"]["comp-sft"]["inputDefinitions"]
    assert sorted(inputs["parameters"]) == ["config", "launcher", "output", "overrides", "runtime", "task_config", "weights"]
    assert inputs["parameters"]["launcher"]["defaultValue"] == "ray"
    assert inputs["parameters"]["runtime"]["defaultValue"] == "local"
    assert inputs["parameters"]["weights"]["defaultValue"] == []
    assert sorted(inputs["artifacts"]) == ["dataset", "eval_dataset", "mix_dataset"]
    assert inputs["artifacts"]["eval_dataset"].get("isOptional") is True
    assert inputs["artifacts"]["mix_dataset"].get("isOptional") is True
    assert spec["components"]["comp-sft"]["outputDefinitions"]["artifacts"]["model"]["artifactType"]["schemaTitle"] == (
        "system.Model")
