"""Run-time parameters of the compiled pipeline: none is inert, overrides are lists, the revision is
checked when the dataset step runs, and every `vrt pipeline` --help example works as written."""

from __future__ import annotations

import re
import shlex

import pytest
import yaml

from components.dataset.step import prepare_pointer
from pipelines.compile import compile_pipeline
from pipelines.settings import load_settings
from pipelines.submit import SubmitOptions, check_params, parse_run_params, pipeline_inputs
from tests.pipelines.spec import task_of
from vrt.cli import pipeline as pipeline_cli
from vrt.cli import pipeline_submit
from vrt.cli.main import main
from vrt.errors import UserError


def consumed(spec: dict) -> set[str]:
    """Root parameters some task input reads (directly, or inside an f-string concatenation)."""
    used = set()
    for task in spec["root"]["dag"]["tasks"].values():
        for value in task.get("inputs", {}).get("parameters", {}).values():
            if "componentInputParameter" in value:
                used.add(value["componentInputParameter"])
            used |= set(re.findall(r"pipelinechannel--([A-Za-z_0-9]+)", yaml.safe_dump(value)))
    return used


@pytest.mark.parametrize("preset, mix_in", [("4b", True), ("4b", False), ("tiny", True)])
def test_every_pipeline_parameter_is_consumed_by_a_task(preset, mix_in, tmp_path):
    overrides = {} if mix_in else {"data.mix_in": None}
    spec = next(yaml.safe_load_all(compile_pipeline(preset, tmp_path / "p.yaml", overrides).read_text()))
    params = set(spec["root"]["inputDefinitions"]["parameters"])
    assert params - consumed(spec) == set()
    expected = {"work_uri", "eval_limit", "sft_overrides", "grpo_overrides"}
    expected |= (
        {"train_from", "bench_from", "revision", "reasonseg_from", "reasonseg_revision",
         *(("mix_from", "mix_revision") if mix_in else ())}
        if preset == "4b" else {"n_train", "n_bench", "seed", "image_size"}
    )
    assert params == expected


def test_4b_compiles_without_a_revision_and_takes_it_per_run(tmp_path):
    spec = next(yaml.safe_load_all(compile_pipeline("4b", tmp_path / "p.yaml").read_text()))
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert params["revision"]["defaultValue"] == ""
    assert params["sft_overrides"] == {"defaultValue": [], "isOptional": True, "parameterType": "LIST"}
    tasks = spec["root"]["dag"]["tasks"]
    assert tasks["sft"]["inputs"]["parameters"]["overrides"] == {"componentInputParameter": "sft_overrides"}
    assert tasks["grpo"]["inputs"]["parameters"]["overrides"] == {"componentInputParameter": "grpo_overrides"}
    for name in ("evaluate: predict vrt-bench", "evaluate: predict reasonseg"):
        assert task_of(spec, name)["inputs"]["parameters"]["limit"] == {"componentInputParameter": "eval_limit"}
    for name in ("dataset: train", "dataset: vrt-bench"):
        assert task_of(spec, name)["inputs"]["parameters"]["revision"] == {"componentInputParameter": "revision"}
    # ReasonSeg is another hub repository: its own source and revision parameters, like bench_from.
    assert params["reasonseg_from"]["defaultValue"] == "hf://datasets/Ricky06662/ReasonSeg_test"
    assert params["reasonseg_revision"]["defaultValue"] == ""
    rs = task_of(spec, "dataset: reasonseg")["inputs"]["parameters"]
    assert rs["source"] == {"runtimeValue": {"constant": "reasonseg"}}
    assert rs["from_uri"] == {"componentInputParameter": "reasonseg_from"}
    assert rs["revision"] == {"componentInputParameter": "reasonseg_revision"}
    # the SFT mixture's VGR source: its own folder and commit, per run
    assert params["mix_revision"]["defaultValue"] == "" and params["mix_from"]["defaultValue"] == "s3://vrt/raw/vgr"
    vgr = task_of(spec, "dataset: train vgr")["inputs"]["parameters"]
    assert vgr["source"] == {"runtimeValue": {"constant": "vgr"}}
    assert vgr["from_uri"] == {"componentInputParameter": "mix_from"}
    assert vgr["revision"] == {"componentInputParameter": "mix_revision"}


@pytest.mark.parametrize("revision", ["", "main", "0123abc"])
def test_dataset_step_refuses_an_unpinned_hub_source_at_run_time(revision, tmp_path):
    with pytest.raises(UserError, match=f"revision '{revision}' for hf://datasets/x/y is not a commit sha: pin"):
        prepare_pointer("vrt-bench", "hf://datasets/x/y", str(tmp_path / "out"), revision, str(tmp_path / "p.json"))
    assert list(tmp_path.iterdir()) == []


def test_compile_without_revision_through_the_cli(tmp_path, capsys):
    main(["pipeline", "compile", "--preset", "4b", "--out", str(tmp_path / "vrt_4b.yaml")])
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 'vrt_4b.yaml'}"


def examples() -> dict[str, list[str]]:
    """argv of the `Example:` line of each `vrt pipeline` command's help."""
    out = {}
    for fn in (pipeline_cli.compile, pipeline_cli.run, pipeline_submit.submit):
        line = re.search(r"Example: (vrt pipeline .+)", fn.__doc__).group(1)
        out[fn.__name__] = shlex.split(line)[1:]
    return out


def test_help_examples_work_as_written(tmp_path, monkeypatch):
    """compile runs for real; run and submit in their dry-run form (settings / parameters checked
    against the compiled package, which is what they do before starting anything)."""
    ex = examples()
    monkeypatch.chdir(tmp_path)
    main(ex["compile"])
    package = tmp_path / ex["compile"][ex["compile"].index("--out") + 1]
    inputs = pipeline_inputs(package)
    run_args = ex["run"]
    params = pipeline_cli.parse_params([run_args[i + 1] for i, a in enumerate(run_args) if a == "--param"])
    assert load_settings("tiny", params).data.n_train == 32
    sub = ex["submit"]
    run_params = parse_run_params([sub[i + 1] for i, a in enumerate(sub) if a == "--param"])
    opts = SubmitOptions(host=sub[sub.index("--host") + 1], params=run_params)
    check_params(opts.params, inputs)
    assert run_params == {"revision": "0123456789abcdef0123456789abcdef01234567"}


def test_readme_override_lists_parse_as_lists():
    assert parse_run_params(['sft_overrides=["sft.max_steps=200"]']) == {"sft_overrides": ["sft.max_steps=200"]}
    with pytest.raises(ValueError, match="unknown pipeline parameter.*n_train"):
        check_params({"n_train": 5000}, {"revision": "STRING", "work_uri": "STRING"})
